/** What the controller asks of GitHub; github/client.ts implements it over Octokit. */
import type { PullRequestInfo } from "../store/types.js";

export type CommitState = "pending" | "success" | "failure" | "error";

export interface GitHubPort {
  setStatus(sha: string, state: CommitState, description: string, targetUrl: string | null): Promise<void>;
  pullRequestFor(sha: string): Promise<PullRequestInfo | null>;
  /** The branch head via a conditional (ETag) request; null when unknown. */
  branchHead(branch: string): Promise<string | null>;
}
