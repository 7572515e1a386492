import { Construct } from 'constructs';
import { fail, isKnown } from './validation';

/** How long Terraform waits for each operation on a resource, as Go durations ('60m', '2h'). */
export interface ResourceTimeouts {
  /** @default the provider's (60m for an HSM) */
  readonly create?: string;
  /** @default the provider's */
  readonly read?: string;
  /** @default the provider's */
  readonly update?: string;
  /** @default the provider's */
  readonly delete?: string;
}

/** A Go duration as Terraform's timeouts take it: hours, minutes and seconds, at least one of them ('90m', '1h30m'). */
export const GO_DURATION = /^(?=\d)(\d+h)?(\d+m)?(\d+s)?$/;

/** Refuses timeouts that are not Go durations (Terraform would refuse them at plan time, later and less clearly). */
export function checkTimeouts(scope: Construct, prop: string, timeouts: ResourceTimeouts | undefined): void {
  if (timeouts === undefined) return;
  for (const [op, value] of Object.entries(timeouts)) {
    if (!['create', 'read', 'update', 'delete'].includes(op)) fail(scope, `${prop}.${op}`, value, 'timeouts for create, read, update or delete only');
    if (isKnown(value) && (typeof value !== 'string' || !GO_DURATION.test(value))) {
      fail(scope, `${prop}.${op}`, value, 'a duration such as 90m, 2h or 1h30m');
    }
  }
}
