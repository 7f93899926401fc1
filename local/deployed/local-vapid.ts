/**
 * The VAPID key pair the deployed mode synthesizes its template with, and the secret the
 * template names for its private key (`local/deployed/push.ts` serves it). Imports nothing:
 * `cdk synth`'s caller reads it in vitest's global setup, which resolves no workspace package.
 * The key pair is public, like the local HS256 key: it signs pushes to this machine only.
 */

export const LOCAL_VAPID_KEYS = {
  publicKey: 'BMAaKP543hkzQezpFo_GIafb-PJDb09TMHo2SvHoTxjsm1IXxe8kWw40Hi4vqqtOaOdLWOew_2mrmn2AXraDQSE',
  privateKey: 'EWML_8-UbIFRcyathHjVTMjXrP657TdDoD73zWb_SdU',
} as const;

/** A complete secret ARN (the region and account of the stand-ins), with the 6-character suffix the synth requires. */
export const LOCAL_VAPID_SECRET_ARN =
  'arn:aws:secretsmanager:us-east-1:000000000000:secret:parley-local/vapid-private-key-Local0';

/** The settings `cdk synth` gets for the deployed mode: Web Push on, its private key in a secret. */
export const LOCAL_PUSH_CONTEXT = {
  vapidPublicKey: LOCAL_VAPID_KEYS.publicKey,
  vapidPrivateKeySecretArn: LOCAL_VAPID_SECRET_ARN,
  // The engines mode's contact too (local/push-service/local-push.ts, LOCAL_VAPID_SUBJECT).
  vapidSubject: 'mailto:parley@localhost.localdomain',
} as const;
