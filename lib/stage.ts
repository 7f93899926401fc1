/**
 * The stage a stack is deployed as (`dev`, `prod`, a developer's own `ada`): part of the
 * stack name `Parley-{stage}`, and the switch between a stack that may be thrown away and
 * one whose data must survive.
 */

/** A lowercase letter, then up to 20 lowercase letters, digits or hyphens. */
const STAGE_PATTERN = /^[a-z][a-z0-9-]{0,20}$/;

/** The one stage whose data is retained and protected from deletion. */
const PRODUCTION_STAGE = 'prod';

/** Returns the stage if it is valid; throws an error that says what a stage must look like otherwise. */
export function parseStage(value: unknown): string {
  if (typeof value === 'string' && STAGE_PATTERN.test(value)) return value;
  const given = value === undefined ? 'No stage given' : `Invalid stage ${JSON.stringify(value)}`;
  throw new Error(
    `${given}: a stage is a lowercase letter followed by up to 20 lowercase letters, digits ` +
      `or hyphens (${STAGE_PATTERN}); pass one with: npx cdk synth -c stage=dev`,
  );
}

export function isProduction(stage: string): boolean {
  return stage === PRODUCTION_STAGE;
}
