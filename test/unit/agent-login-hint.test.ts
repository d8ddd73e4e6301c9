// The hint of the UI's code step (src/agent/account.ts twoStepHint).
import { describe, expect, it } from 'vitest';
import { twoStepHint } from '../../src/agent/account.js';

describe('twoStepHint', () => {
  it('email mode with an email username: the partly masked address, nothing else', () => {
    expect(twoStepHint('email', 'jane.doe@example.com')).toBe('j…e@example.com');
    expect(twoStepHint('email', 'jo@example.com')).toBe('j…@example.com');
    expect(twoStepHint('email', 'j@example.com')).toBe('j…@example.com');
    expect(twoStepHint('email', 'jane.doe@example.com')).not.toContain('jane');
  });

  it('a sentence otherwise (no address known, SMS, authenticator)', () => {
    expect(twoStepHint('email', 'jdoe')).toBe('A code was sent by email.');
    expect(twoStepHint('email', '@example.com')).toBe('A code was sent by email.');
    expect(twoStepHint('email')).toBe('A code was sent by email.');
    expect(twoStepHint('sms', 'jane@example.com')).toBe('A code was sent by text message (SMS).');
    expect(twoStepHint('authenticator', 'jane@example.com')).toBe('Enter the code from your authenticator app.');
  });
});
