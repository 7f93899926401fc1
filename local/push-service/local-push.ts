/**
 * Push notifications in the local stack's engines mode: the local push service, a VAPID key
 * pair (the environment's, or one made at start), and the push settings the functions get,
 * which allow the push service's origin beside the browsers' push services.
 */
import webPush from 'web-push';
import { DEFAULT_PUSH_ENDPOINT_HOSTS, type PushSettings, pushSettingsFrom } from '../../lambdas/config.js';
import { type RunningPushService, startPushService } from './index.js';

/** The VAPID contact of a local stack when `PARLEY_VAPID_SUBJECT` names none. */
export const LOCAL_VAPID_SUBJECT = 'mailto:parley@localhost.localdomain';

export interface LocalPushOptions {
  /** The push service's port; 0 (the default) picks a free one. `npm start` passes `PARLEY_PUSH_PORT`. */
  port?: number;
  /** Settings over those of the environment: a test's shorter window, previews on. */
  preview?: boolean;
  coalesceWindowMs?: number;
  /** Logs each push that arrives; none when absent. */
  log?: (line: string) => void;
}

export interface LocalPush {
  service: RunningPushService;
  settings: PushSettings;
  vapidPublicKey: string;
}

/**
 * Starts the push service and reads the push settings as a function would from its
 * environment: the PARLEY_PUSH_* and VAPID variables of this process, or the defaults.
 */
export async function startLocalPush(
  options: LocalPushOptions = {},
  environment: NodeJS.ProcessEnv = process.env,
): Promise<LocalPush> {
  const keys =
    environment.PARLEY_VAPID_PUBLIC_KEY && environment.PARLEY_VAPID_PRIVATE_KEY
      ? { publicKey: environment.PARLEY_VAPID_PUBLIC_KEY, privateKey: environment.PARLEY_VAPID_PRIVATE_KEY }
      : webPush.generateVAPIDKeys();
  const service = await startPushService({
    port: options.port ?? 0,
    vapidPublicKey: keys.publicKey,
    ...(options.log ? { log: options.log } : {}),
  });
  try {
    const hosts = environment.PARLEY_PUSH_ENDPOINT_HOSTS?.trim() || DEFAULT_PUSH_ENDPOINT_HOSTS.join(',');
    const settings = pushSettingsFrom({
      PARLEY_VAPID_PUBLIC_KEY: keys.publicKey,
      PARLEY_VAPID_PRIVATE_KEY: keys.privateKey,
      PARLEY_VAPID_SUBJECT: environment.PARLEY_VAPID_SUBJECT || LOCAL_VAPID_SUBJECT,
      PARLEY_PUSH_PREVIEW: environment.PARLEY_PUSH_PREVIEW,
      PARLEY_PUSH_COALESCE_SECONDS: environment.PARLEY_PUSH_COALESCE_SECONDS,
      PARLEY_PUSH_TTL_SECONDS: environment.PARLEY_PUSH_TTL_SECONDS,
      PARLEY_PUSH_ENDPOINT_HOSTS: `${hosts},${service.origin}`,
    });
    return {
      service,
      settings: {
        ...settings,
        ...(options.preview !== undefined ? { preview: options.preview } : {}),
        ...(options.coalesceWindowMs !== undefined ? { coalesceWindowMs: options.coalesceWindowMs } : {}),
      },
      vapidPublicKey: keys.publicKey,
    };
  } catch (error) {
    await service.stop();
    throw error;
  }
}
