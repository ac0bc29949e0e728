/**
 * The contract of field encryption with per-user data keys, as other capabilities use it.
 * The implementation (key ring, envelope encryption, crypto-shredding) lives beside this file.
 */

/** Binds a ciphertext to where it is stored: a value copied to another table, column or row fails to open. */
export interface FieldContext {
  table: string;
  column: string;
  /** The row's primary key, as text. */
  rowId: string;
}

export interface UserFieldCipher {
  /**
   * Seals a personal field with the subject's data key (created on first use).
   * @throws Error when the subject's key was shredded (nothing new may be stored for an erased person).
   */
  sealForUser(userId: string, plaintext: string | Uint8Array, context: FieldContext): Promise<Buffer>;
  /**
   * Opens a field sealed by {@link sealForUser}.
   * @returns the plaintext, or null when the subject's key has been shredded (the data is gone for good).
   * @throws Error when the ciphertext was altered or is opened under another context.
   */
  openForUser(userId: string, sealed: Uint8Array, context: FieldContext): Promise<Buffer | null>;
}
