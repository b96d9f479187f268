/** What `git pcc merge` does when a session's branch conflicts. */
export enum ConflictPolicy {
  Abort = "abort",
  KeepOurs = "ours",
  KeepTheirs = "theirs",
  Prompt = "prompt",
  SuggestFix = "suggest",
}

const ALL_POLICIES = Object.values(ConflictPolicy) as string[];

export function parsePolicy(raw: string | undefined): ConflictPolicy {
  const value = (raw ?? "abort").trim().toLowerCase();
  if (!ALL_POLICIES.includes(value)) {
    throw new Error(`unknown conflict policy "${raw}"; expected one of ${ALL_POLICIES.join(", ")}`);
  }
  return value as ConflictPolicy;
}

export function isDestructive(policy: ConflictPolicy): boolean {
  return policy === ConflictPolicy.KeepOurs || policy === ConflictPolicy.KeepTheirs;
}
