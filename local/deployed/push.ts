/**
 * Web Push in the deployed mode (protocol 1.4). The template is synthesized with a VAPID
 * key pair of the local stack's own (`LOCAL_PUSH_CONTEXT`): its public key and the ARN of a
 * secret the template only names, as a deployment names the secret its operator made. The
 * stand-in Secrets Manager serves the private key for that ARN, so that the notifier's
 * bundle reads it exactly as in AWS, and the local push service plays the browsers' push
 * services, whose origin is allowed beside the template's hosts: the one addition to a
 * function's environment, as the SDK's endpoint variables point it at the local engines.
 * The key pair is public, like the local HS256 key: it signs pushes to this machine only.
 */
import { DEFAULT_PUSH_ENDPOINT_HOSTS } from '../../lambdas/config.js';
import { startPushService } from '../push-service/index.js';
import { LOCAL_VAPID_KEYS, LOCAL_VAPID_SECRET_ARN } from './local-vapid.js';
import type { LocalSecret } from './secrets-manager.js';
import type { StandIns } from './stand-ins.js';

/** The secret the template names, as the operator would have made it. */
export const LOCAL_VAPID_SECRET: LocalSecret = {
  arn: LOCAL_VAPID_SECRET_ARN,
  name: 'parley-local/vapid-private-key',
  value: LOCAL_VAPID_KEYS.privateKey,
};

/**
 * A function's environment with the local push service's origin allowed, when the template
 * turned Web Push on for it; unchanged otherwise.
 */
export function withLocalPushOrigin(
  environment: Record<string, string>,
  pushServiceOrigin: string | undefined,
): Record<string, string> {
  if (!pushServiceOrigin || !environment.PARLEY_VAPID_PUBLIC_KEY) return environment;
  const hosts = environment.PARLEY_PUSH_ENDPOINT_HOSTS || DEFAULT_PUSH_ENDPOINT_HOSTS.join(',');
  return { ...environment, PARLEY_PUSH_ENDPOINT_HOSTS: `${hosts},${pushServiceOrigin}` };
}

/** The VAPID public key the template gives its functions, if it turned Web Push on. */
export function vapidPublicKeyOf({ functions }: StandIns): string | undefined {
  for (const fn of functions) {
    const variables = (
      fn.resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined
    )?.Variables;
    const key = variables?.PARLEY_VAPID_PUBLIC_KEY;
    if (typeof key === 'string') return key;
  }
  return undefined;
}

/**
 * The local push service, when the template turned Web Push on: it checks that pushes are
 * signed with the template's VAPID key. Added to `stoppers`.
 */
export async function startDeployedPushService(
  standIns: StandIns,
  stoppers: Array<() => Promise<void>>,
  log: (message: string) => void,
): Promise<{ serviceUrl: string; vapidPublicKey: string } | undefined> {
  const vapidPublicKey = vapidPublicKeyOf(standIns);
  if (!vapidPublicKey) return undefined;
  const service = await startPushService({ port: 0, vapidPublicKey, log: (line) => log(`[push] ${line}`) });
  stoppers.push(() => service.stop());
  return { serviceUrl: service.origin, vapidPublicKey };
}
