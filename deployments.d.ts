// Deployment shapes of the `arkor` package, re-exported by index.d.ts. They
// follow the TypeScript SDK's `core/deployments.ts` field for field; the one
// helper type it keeps private is declared without `export`, and the
// trailing `export {}` keeps it so.

/** What a deployment serves: a trained adapter or a base model. */
export type DeploymentTarget =
  | {
      kind: "adapter";
      adapter:
        | { kind: "final"; jobId: string }
        | { kind: "checkpoint"; jobId: string; step: number };
    }
  | { kind: "base_model"; baseModel: string };

/** `none`: public URL; `fixed_api_key`: requests need an issued key. */
export type DeploymentAuthMode = "none" | "fixed_api_key";

/** Retention policy for stored chat runs of a deployment. */
export type DeploymentRunRetentionMode = "unlimited" | "disabled" | "days";

/** A deployment as returned by the API. */
export interface DeploymentDto {
  id: string;
  slug: string;
  orgId: string;
  projectId: string;
  target: DeploymentTarget;
  authMode: DeploymentAuthMode;
  urlFormat: "openai_compat";
  enabled: boolean;
  customDomain: string | null;
  /** Known modes autocomplete; unknown future modes still type-check. */
  runRetentionMode?: DeploymentRunRetentionMode | (string & {});
  runRetentionDays?: number;
  createdAt: string;
  updatedAt: string;
}

/** A deployment key as listed (the secret itself is never included). */
export interface DeploymentKeyDto {
  id: string;
  label: string;
  /** Leading characters of the key, for display. */
  prefix: string;
  enabled: boolean;
  createdAt: string;
  lastUsedAt: string | null;
}

/** `runRetentionDays` goes with mode `"days"` and only with it. */
type RunRetentionFields =
  | { runRetentionMode?: undefined; runRetentionDays?: undefined }
  | {
      runRetentionMode: "unlimited" | "disabled";
      runRetentionDays?: undefined;
    }
  | { runRetentionMode: "days"; runRetentionDays: number };

/** Body of `createDeployment`. */
export type CreateDeploymentInput = {
  /** Subdomain label: 2-50 chars of `[a-z0-9-]`, no leading/trailing `-`. */
  slug: string;
  target: DeploymentTarget;
  authMode: DeploymentAuthMode;
} & RunRetentionFields;

/** Body of `updateDeployment`; omitted fields are left as they are. */
export type UpdateDeploymentInput = {
  target?: DeploymentTarget;
  authMode?: DeploymentAuthMode;
  enabled?: boolean;
} & RunRetentionFields;

/** Body of `createDeploymentKey`. */
export interface CreateDeploymentKeyInput {
  /** 1-80 characters. */
  label: string;
}

/** A newly issued key; `plaintext` is only ever returned here. */
export interface CreateDeploymentKeyResult {
  id: string;
  label: string;
  plaintext: string;
  prefix: string;
  createdAt: string;
}

/** Org and project every deployment call is scoped to. */
export interface DeploymentScope {
  orgSlug: string;
  projectSlug: string;
}

export {};
