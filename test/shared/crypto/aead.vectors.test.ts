/**
 * Field encryption is only as good as its AEAD. AES-256-GCM must reproduce the published test vectors
 * (McGrew & Viega's GCM specification, test cases 13-16, also NIST SP 800-38D), and our envelope must fail to
 * open after any change to any byte, under another key, or in another place (associated data).
 */
import { describe, expect, it } from 'vitest';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  DecryptionError,
  fieldAad,
  openEnvelope,
  readEnvelope,
  sealEnvelope,
} from '#shared/crypto/aead.ts';
import { randomBytesOf } from '#shared/crypto/random.ts';

const hex = (value: string) => Buffer.from(value, 'hex');
const K = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
const IV = 'cafebabefacedbaddecaf888';
const P64 =
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255';
const C64 =
  '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad';

const VECTORS = [
  {
    name: 'test case 13 (zero key, empty)',
    key: '0'.repeat(64),
    iv: '0'.repeat(24),
    pt: '',
    aad: '',
    ct: '',
    tag: '530f8afbc74536b9a963b4f1c4cb738b',
  },
  {
    name: 'test case 14 (zero key, one block)',
    key: '0'.repeat(64),
    iv: '0'.repeat(24),
    pt: '0'.repeat(32),
    aad: '',
    ct: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    name: 'test case 15 (64-byte message)',
    key: K,
    iv: IV,
    pt: P64,
    aad: '',
    ct: C64,
    tag: 'b094dac5d93471bdec1a502270e3cc6c',
  },
  {
    name: 'test case 16 (60-byte message with associated data)',
    key: K,
    iv: IV,
    pt: P64.slice(0, 120),
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    ct: C64.slice(0, 120),
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

describe('AES-256-GCM published vectors', () => {
  for (const vector of VECTORS) {
    it(`encrypts and decrypts ${vector.name}`, () => {
      const { ciphertext, tag } = aesGcmEncrypt(hex(vector.key), hex(vector.iv), hex(vector.pt), hex(vector.aad));
      expect(ciphertext.toString('hex')).toBe(vector.ct);
      expect(tag.toString('hex')).toBe(vector.tag);
      expect(
        aesGcmDecrypt(hex(vector.key), hex(vector.iv), hex(vector.ct), hex(vector.tag), hex(vector.aad)).toString(
          'hex',
        ),
      ).toBe(vector.pt);
    });
  }

  it('rejects a vector whose tag or associated data was changed', () => {
    const v = VECTORS[3] as (typeof VECTORS)[number];
    const badTag = hex(v.tag);
    badTag[0] = (badTag[0] as number) ^ 1;
    expect(() => aesGcmDecrypt(hex(v.key), hex(v.iv), hex(v.ct), badTag, hex(v.aad))).toThrow(DecryptionError);
    expect(() => aesGcmDecrypt(hex(v.key), hex(v.iv), hex(v.ct), hex(v.tag), hex('00'))).toThrow(DecryptionError);
  });
});

describe('envelope', () => {
  const key = randomBytesOf(32);
  const aad = fieldAad('users', 'email', '7c1f4a4e-0000-4000-8000-000000000001');
  const sealed = sealEnvelope(key, 7, Buffer.from('ada@example.com'), aad);

  it('round-trips and names its key id', () => {
    expect(openEnvelope(key, sealed, aad).toString()).toBe('ada@example.com');
    expect(readEnvelope(sealed)).toEqual({ version: 1, keyId: 7 });
    expect(sealed.length).toBe(5 + 12 + 15 + 16);
  });

  it('uses a fresh nonce every time (same input, different ciphertext)', () => {
    const again = sealEnvelope(key, 7, Buffer.from('ada@example.com'), aad);
    expect(again.equals(sealed)).toBe(false);
    expect(again.subarray(5, 17).equals(sealed.subarray(5, 17))).toBe(false);
  });

  it('fails after a change to any single byte: header, nonce, ciphertext or tag', () => {
    for (let index = 0; index < sealed.length; index++) {
      const tampered = Buffer.from(sealed);
      tampered[index] = (tampered[index] as number) ^ 0x01;
      expect(() => openEnvelope(key, tampered, aad), `byte ${index}`).toThrow(DecryptionError);
    }
  });

  it('fails when copied to another row, column or table', () => {
    for (const other of [
      fieldAad('users', 'email', '7c1f4a4e-0000-4000-8000-000000000002'),
      fieldAad('users', 'phone', '7c1f4a4e-0000-4000-8000-000000000001'),
      fieldAad('admins', 'email', '7c1f4a4e-0000-4000-8000-000000000001'),
    ]) {
      expect(() => openEnvelope(key, sealed, other)).toThrow(DecryptionError);
    }
  });

  it('keeps context parts unambiguous ("ab","c" differs from "a","bc")', () => {
    expect(fieldAad('ab', 'c', '1').equals(fieldAad('a', 'bc', '1'))).toBe(false);
  });

  it('fails under another key, when truncated, or with an unknown version', () => {
    expect(() => openEnvelope(randomBytesOf(32), sealed, aad)).toThrow(DecryptionError);
    expect(() => openEnvelope(key, sealed.subarray(0, 20), aad)).toThrow(DecryptionError);
    const future = Buffer.from(sealed);
    future[0] = 2;
    expect(() => readEnvelope(future)).toThrow(/Unknown envelope version 2/);
  });
});
