import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyVaultError, openSecret, sealSecret } from './key-vault.ts';

test('sealed secret opens with the passphrase only, and tampering is detected', async () => {
  const secret = crypto.getRandomValues(new Uint8Array(5000));
  const s = await sealSecret(secret, 'correct horse battery', 'ckks-8192-coeff', 100_000);
  assert.ok(!s.sealed.includes(Buffer.from(secret.subarray(0, 16)).toString('base64').slice(0, 12)));
  assert.deepEqual(await openSecret(s, 'correct horse battery'), secret);
  await assert.rejects(
    openSecret(s, 'wrong horse battery'),
    (e) => e instanceof KeyVaultError && e.code === 'VAULT_WRONG_PASSPHRASE',
  );
  await assert.rejects(
    openSecret({ ...s, label: 'other' }, 'correct horse battery'),
    (e) => e instanceof KeyVaultError && e.code === 'VAULT_WRONG_PASSPHRASE',
  );
  await assert.rejects(
    openSecret({ ...s, iterations: 10 }, 'correct horse battery'),
    (e) => e instanceof KeyVaultError && e.code === 'VAULT_MALFORMED',
  );
  await assert.rejects(
    sealSecret(secret, 'short', 'x'),
    (e) => e instanceof KeyVaultError && e.code === 'VAULT_WEAK_PASSPHRASE',
  );
});
