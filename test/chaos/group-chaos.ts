/**
 * The groups of a chaos run: users of their own (`g0`, `g1`…, each with a `GroupDevice` per
 * device) in a few groups that `g0` creates and administers. While the faults run, each
 * group's membership changes one change at a time (additions, removals by the admin,
 * members leaving, and former members added back), and every device writes into the groups
 * its user is in. Every change is repeated until answered, and recorded for the checker.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { GroupDevice } from './group-devices.js';
import type { GroupHistoryInput, MembershipAction } from './group-history.js';

export interface GroupChaosOptions {
  /** Users who are in groups only (not in the one-to-one ring); 0: no groups. */
  users: number;
  devicesPerUser: number;
  groups: number;
  /** Membership changes a second, in each group. */
  changesPerSecond: number;
  /** Each device's pace: messages written a second, on average. */
  writesPerDeviceSecond: number;
}

/** What the run believes of a group, from the answers to its own changes: the only changes there are. */
interface GroupModel {
  conversationId: string;
  admin: string;
  members: Set<string>;
}

export class GroupChaos {
  readonly users: string[];
  readonly devices: GroupDevice[];
  readonly groups: GroupModel[];
  readonly changes: MembershipAction[] = [];
  readonly #options: GroupChaosOptions;
  readonly #random: () => number;

  constructor(
    options: GroupChaosOptions,
    run: string,
    random: () => number,
    device: (userId: string, deviceId: string) => GroupDevice,
  ) {
    this.#options = options;
    this.#random = random;
    this.users = Array.from({ length: options.users }, (_, i) => `g${i}-${run}`);
    this.devices = this.users.flatMap((userId) =>
      Array.from({ length: options.devicesPerUser }, (_, d) => device(userId, `d${d}`)),
    );
    const admin = this.users[0] as string;
    this.groups =
      options.users < 2
        ? []
        : Array.from({ length: options.groups }, (_, k) => ({
            conversationId: `grp:chaos-${run}-${k}`,
            admin,
            members: new Set<string>(),
          }));
  }

  get groupIds(): string[] {
    return this.groups.map((group) => group.conversationId);
  }

  /** Creates every group (the first with every user, the others with the first half), then changes them until `endsAt`. */
  async changeMemberships(endsAt: number): Promise<void> {
    await Promise.all(
      this.groups.map(async (group, k) => {
        const initial = this.users.slice(
          1,
          k === 0 ? undefined : Math.max(2, Math.ceil(this.users.length / 2)),
        );
        // A change that is still unanswered when the chaos ends goes on meanwhile: the
        // verdict waits for every device's requests to be answered.
        const untilEnd = sleep(Math.max(0, endsAt - Date.now()));
        await this.#change(group, 'createGroup', group.admin, initial);
        // Every group changes at least once, however long a busy machine takes to create it.
        for (let changes = 0; ; changes++) {
          const gapMs = poissonGapMs(this.#random, this.#options.changesPerSecond);
          if (changes > 0) {
            if (Date.now() + gapMs >= endsAt) return;
            await sleep(gapMs);
          }
          if ((await Promise.race([this.#changeOnce(group).then(() => 'done'), untilEnd])) !== 'done') return;
        }
      }),
    );
  }

  /** Each device writes into a group its user is in, at random, until `endsAt`. */
  async chat(endsAt: number): Promise<void> {
    await Promise.all(
      this.devices.map(async (device) => {
        let n = 0;
        for (;;) {
          const gapMs = poissonGapMs(this.#random, this.#options.writesPerDeviceSecond);
          if (Date.now() + gapMs >= endsAt) return;
          await sleep(gapMs);
          const mine = this.groups.filter((group) => group.members.has(device.userId));
          const group = mine[Math.floor(this.#random() * mine.length)];
          if (group) device.write(group.conversationId, `${device.key} #${++n}`);
        }
      }),
    );
  }

  /** What the checker needs of the groups. */
  history(): GroupHistoryInput {
    return {
      groupIds: this.groupIds,
      devices: this.devices.map((device) => ({
        deviceKey: device.key,
        userId: device.userId,
        pending: device.pendingCount,
        timelines: device.timelines,
      })),
      refused: this.devices.flatMap((device) => device.refused),
      changes: this.changes,
    };
  }

  /** One change: add one or two users who are not members (former members included), remove one, or one leaves. */
  async #changeOnce(group: GroupModel): Promise<void> {
    const outside = this.users.filter((userId) => !group.members.has(userId));
    const removable = [...group.members].filter((userId) => userId !== group.admin);
    const pick = (from: string[]) => from[Math.floor(this.#random() * from.length)] as string;
    const roll = this.#random();
    if (outside.length > 0 && (roll < 0.4 || removable.length === 0)) {
      const first = pick(outside);
      const second = pick(outside);
      await this.#change(group, 'addMembers', group.admin, [...new Set([first, second])]);
    } else if (removable.length > 0 && roll < 0.7) {
      await this.#change(group, 'removeMember', group.admin, [pick(removable)]);
    } else if (removable.length > 0) {
      const leaving = pick(removable);
      await this.#change(group, 'removeMember', leaving, [leaving]);
    }
  }

  async #change(
    group: GroupModel,
    kind: MembershipAction['kind'],
    by: string,
    userIds: string[],
  ): Promise<void> {
    const device = this.devices.find((candidate) => candidate.userId === by) as GroupDevice;
    const { conversationId } = group;
    const frame =
      kind === 'removeMember'
        ? { action: kind, conversationId, userId: userIds[0] }
        : kind === 'createGroup'
          ? { action: kind, conversationId, title: `chaos ${conversationId}`, members: userIds }
          : { action: kind, conversationId, members: userIds };
    const answer = await device.request(frame);
    const action: MembershipAction = { kind, conversationId, by, userIds };
    if (answer.type === 'groupChanged') action.seq = answer.seq as number | null;
    this.changes.push(action);
    // A leave repeated after its answer was lost is forbidden: the user is out either way.
    const applied =
      answer.type === 'groupChanged' ||
      (by === userIds[0] && answer.type === 'error' && answer.code === 'forbidden');
    if (!applied) return;
    if (kind === 'removeMember') group.members.delete(userIds[0] as string);
    else for (const userId of kind === 'createGroup' ? [by, ...userIds] : userIds) group.members.add(userId);
  }
}

/** The wait before the next event of a Poisson stream of `perSecond` events: an exponential gap. */
export function poissonGapMs(random: () => number, perSecond: number): number {
  return (-Math.log(1 - random()) * 1000) / perSecond;
}
