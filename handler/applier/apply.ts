// The applier: sends a plan over ONE admin-socket connection in two batches
// and checks every reply. Batch 1 ("prepare": address, weight, maxconn, add
// server) goes first for all steps; batch 2 ("activate": state, health) only
// for the steps whose every prepare reply was a success. So a failed
// `set server addr` can never lead to enabling a slot at a stale address.
import type { CommandReply, RuntimeCommand, RuntimeSession } from "../haproxy-runtime-api/index.js";
import type { PlanStep } from "../planner/model.js";
import { commandFor } from "./commands-for-plan.js";

export interface StepFailure {
  step: PlanStep;
  command: string;
  reply: string;
}

export interface ApplyReport {
  /** Steps whose every command succeeded. */
  applied: PlanStep[];
  failures: StepFailure[];
  commandsSent: number;
}

interface Batch {
  commands: RuntimeCommand[];
  /** Which step each command belongs to. */
  owners: number[];
}

function batchOf(steps: readonly PlanStep[], phase: "prepare" | "activate", include: (index: number) => boolean): Batch {
  const batch: Batch = { commands: [], owners: [] };
  steps.forEach((step, index) => {
    if (!include(index)) return;
    for (const operation of step[phase]) {
      batch.commands.push(commandFor(step.backend, step.server, operation));
      batch.owners.push(index);
    }
  });
  return batch;
}

function recordFailures(batch: Batch, replies: readonly CommandReply[], steps: readonly PlanStep[], failed: Map<number, StepFailure>): void {
  replies.forEach((reply, position) => {
    const owner = batch.owners[position];
    if (reply.ok || owner === undefined || failed.has(owner)) return;
    const step = steps[owner];
    if (step) failed.set(owner, { step, command: reply.command, reply: reply.output.trim() });
  });
}

/** The exact runtime commands a plan would send, in order (for --dry-run). */
export function planCommands(steps: readonly PlanStep[]): string[] {
  const all = () => true;
  return [...batchOf(steps, "prepare", all).commands, ...batchOf(steps, "activate", all).commands].map((command) => command.text);
}

/** Applies the plan on an open session (the same connection the slots were read on). */
export async function applyPlan(session: RuntimeSession, steps: readonly PlanStep[]): Promise<ApplyReport> {
  if (steps.length === 0) return { applied: [], failures: [], commandsSent: 0 };
  const failed = new Map<number, StepFailure>();
  let commandsSent = 0;
  const prepare = batchOf(steps, "prepare", () => true);
  if (prepare.commands.length > 0) {
    const replies = await session.execute(prepare.commands);
    commandsSent += prepare.commands.length;
    recordFailures(prepare, replies, steps, failed);
  }
  const activate = batchOf(steps, "activate", (index) => !failed.has(index));
  if (activate.commands.length > 0) {
    const replies = await session.execute(activate.commands);
    commandsSent += activate.commands.length;
    recordFailures(activate, replies, steps, failed);
  }
  return {
    applied: steps.filter((_, index) => !failed.has(index)),
    failures: [...failed.values()],
    commandsSent,
  };
}
