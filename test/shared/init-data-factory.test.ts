/**
 * The harness's signed-initData factory must make data exactly as Telegram does, or every login test built
 * on it would prove nothing: Telegram's own validation accepts it with the right token only.
 */
import { parse, validate } from '@telegram-apps/init-data-node';
import { describe, expect, it } from 'vitest';
import { TEST_BOT_TOKEN } from '#test/helpers/create-test-bot.ts';
import { signedInitData } from '#test/helpers/init-data.ts';

describe('signedInitData', () => {
  it('is accepted by Telegram validation with the bot token and rejected with another', () => {
    const initData = signedInitData({ user: { id: 7, first_name: 'Ada', language_code: 'en' } });
    expect(() => validate(initData, TEST_BOT_TOKEN)).not.toThrow();
    expect(() => validate(initData, '987654:AAother-token-other-token-other-1')).toThrow();
    expect(parse(initData).user).toMatchObject({ id: 7, first_name: 'Ada' });
  });

  it('signs the given auth_date, so expiry tests can age it', () => {
    const old = new Date(Date.now() - 2 * 3600 * 1000);
    const initData = signedInitData({ authDate: old });
    expect(() => validate(initData, TEST_BOT_TOKEN, { expiresIn: 3600 })).toThrow();
    expect(() => validate(initData, TEST_BOT_TOKEN, { expiresIn: 3 * 3600 })).not.toThrow();
  });

  it('changes the hash when any field is tampered with', () => {
    const initData = signedInitData();
    const tampered = initData.replace('%22id%22%3A424242', '%22id%22%3A1');
    expect(tampered).not.toBe(initData);
    expect(() => validate(tampered, TEST_BOT_TOKEN)).toThrow();
  });
});
