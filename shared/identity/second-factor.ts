/**
 * The second factor as step-up sees it. The MFA capability (TOTP, backup codes) implements it; until then
 * no factor is enrolled and step-up-guarded actions are refused.
 */
export type SecondFactorResult = 'ok' | 'invalid' | 'locked' | 'not_enrolled';

export interface SecondFactor {
  /** Checks a code for the user on a channel ('api' or 'bot': lockouts apply per channel). */
  verify(userId: string, code: string, channel: 'api' | 'bot'): Promise<SecondFactorResult>;
}

/** The factor used while no MFA method exists: nobody is enrolled. */
export const NO_SECOND_FACTOR: SecondFactor = {
  async verify() {
    return 'not_enrolled';
  },
};
