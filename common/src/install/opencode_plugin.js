// parallel-cc: reports this OpenCode session's state (working, waiting,
// idle, compacting) to parallel-cc by running its hook commands on
// OpenCode's events, and stops edits of files another session claims.
// Written by `git pcc install --agent opencode`, removed by
// `git pcc install --agent opencode --uninstall`; changes to it are lost.
import { spawn } from "node:child_process";

const GIT_PCC = __GIT_PCC__;

// Runs `git-pcc ARGS` with the payload on its stdin and waits for it (our
// hooks take milliseconds and always exit 0); resolves to what it printed,
// and never fails OpenCode.
function report(args, payload) {
  return new Promise((resolve) => {
    try {
      const child = spawn(GIT_PCC, args, { stdio: ["pipe", "pipe", "ignore"] });
      let printed = "";
      child.stdout.on("data", (chunk) => (printed += chunk));
      child.on("error", () => resolve(""));
      child.on("close", () => resolve(printed));
      child.stdin.on("error", () => {});
      child.stdin.end(JSON.stringify(payload));
    } catch {
      resolve("");
    }
  });
}

// The reason our pre-tool hook denied the call for (an edit of a file
// another session holds EXCLUSIVE), if it did.
function denial(printed) {
  try {
    const out = JSON.parse(printed)?.hookSpecificOutput;
    return out?.permissionDecision === "deny" ? out.permissionDecisionReason : undefined;
  } catch {
    return undefined;
  }
}

const hook = (event, name, cwd, fields) =>
  report(["hook", event, "--agent", "opencode"], { hook_event_name: name, cwd, ...fields });

function text(value) {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") return value.message ?? value.name ?? JSON.stringify(value);
  return undefined;
}

export const ParallelCc = async ({ directory }) => ({
  "tool.execute.before": async (input, output) => {
    const printed = await hook("pre-tool-use", "PreToolUse", directory, {
      tool_name: input?.tool,
      tool_input: output?.args ?? {},
    });
    // A hook that throws stops the tool call; OpenCode gives the model the
    // message as the tool's error.
    const reason = denial(printed);
    if (reason) throw new Error(reason);
  },
  "tool.execute.after": async () => {
    await report(["heartbeat", "--hook"], { hook_event_name: "PostToolUse", cwd: directory });
  },
  event: async ({ event }) => {
    const p = event?.properties ?? {};
    switch (event?.type) {
      case "session.status":
        if (p.status?.type === "busy") await hook("user-prompt-submit", "UserPromptSubmit", directory, {});
        break;
      case "permission.asked":
        await hook("permission-request", "PermissionRequest", directory, {
          tool_name: text(p.permission ?? p.type ?? p.title),
        });
        break;
      case "permission.replied":
        await report(["heartbeat", "--hook"], { hook_event_name: "PostToolUse", cwd: directory });
        break;
      case "question.asked":
        await hook("notification", "Notification", directory, {
          notification_type: "elicitation_dialog",
          message: text(p.questions?.[0]?.question ?? p.question),
        });
        break;
      case "session.idle":
        await hook("stop", "Stop", directory, {});
        break;
      case "session.error":
        await hook("stop-failure", "StopFailure", directory, { error: text(p.error) });
        break;
      case "session.compacted":
        await hook("post-compact", "PostCompact", directory, {});
        break;
    }
  },
});
