/**
 * Retention rules: per repository pattern, keep the newest N tags by push time and/or the tags pushed
 * within D days, and always the tags matching a pattern; every other tag of a matching repository is
 * untagged. Untagging frees no bytes by itself: the manifests it leaves untagged go with the next
 * garbage collection that removes untagged manifests (`berth gc --untagged`).
 *
 * Several rules may match one repository; a tag is removed only when no matching rule keeps it, so
 * adding a rule can only make retention keep more. Rules are settings (metadata/maintenance-db.ts),
 * never derived data.
 */
import { randomUUID } from 'node:crypto';
import { patternMatches, patternProblem } from '../name-pattern.ts';
import type { MaintenanceStore, RetentionRuleDoc } from '../metadata/maintenance-db.ts';
import type { RepositoryStore, TagRecord } from '../storage/repository-store.ts';
import type { FieldErrorDetail, RetentionReport, RetentionRule } from './api-types.ts';
import { RegistryError } from './errors.ts';
import type { ManifestService } from './manifests.ts';

// The rule and report shapes are part of the management API (the UI shows them): in api-types.ts.
export type { RetentionCandidate, RetentionReport, RetentionRule } from './api-types.ts';

/** What a client sends to create or change a rule. */
export interface RetentionRuleInput {
  repositories?: unknown;
  keepLast?: unknown;
  keepDays?: unknown;
  keepTags?: unknown;
  enabled?: unknown;
}

export interface RetentionServiceDeps {
  store: MaintenanceStore;
  repositories: RepositoryStore;
  manifests: ManifestService;
  now?: () => Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_PATTERN = 255;

export class RetentionService {
  private readonly deps: RetentionServiceDeps;

  constructor(deps: RetentionServiceDeps) {
    this.deps = deps;
  }

  async listRules(): Promise<RetentionRule[]> {
    return (await this.deps.store.listRules()).map(toRule);
  }

  async createRule(input: RetentionRuleInput): Promise<RetentionRule> {
    const now = this.now();
    const doc: RetentionRuleDoc = { _id: randomUUID(), ...validateRule(input, null), createdAt: now, updatedAt: now };
    await this.deps.store.saveRule(doc);
    return toRule(doc);
  }

  /** Changes the fields given; the others keep their values. */
  async updateRule(id: string, input: RetentionRuleInput): Promise<RetentionRule> {
    const existing = await this.deps.store.rule(id);
    if (!existing) throw unknownRule(id);
    const doc: RetentionRuleDoc = { ...existing, ...validateRule(input, existing), updatedAt: this.now() };
    await this.deps.store.saveRule(doc);
    return toRule(doc);
  }

  async deleteRule(id: string): Promise<void> {
    if (!(await this.deps.store.removeRule(id))) throw unknownRule(id);
  }

  /**
   * Applies the enabled rules (or, for a preview of unsaved rules, the ones given). A dry run only
   * lists what would be untagged.
   */
  async apply(options: { dryRun: boolean; rules?: RetentionRuleInput[] }): Promise<RetentionReport> {
    const now = this.now();
    const rules = options.rules
      ? options.rules.map((r) => ({ ...validateRule(r, null), _id: 'preview', createdAt: now, updatedAt: now }))
      : await this.deps.store.listRules();
    const enabled = rules.filter((r) => r.enabled).map((r) => compile(r, now));
    const report: RetentionReport = { dryRun: options.dryRun, untagged: [], kept: 0, repositories: 0, rules: enabled.length, skipped: [] };
    if (enabled.length === 0) return report;

    const { repositories, manifests } = this.deps;
    for (const repo of await repositories.listRepositories()) {
      const matching = enabled.filter((r) => r.matchesRepository(repo));
      if (matching.length === 0) continue;
      report.repositories++;
      // Newest first; equal push times in name order, so a plan is the same every time it is made.
      const tags = (await repositories.listTags(repo)).sort(
        (a, b) => b.pushedAt.getTime() - a.pushedAt.getTime() || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0),
      );
      for (const [position, tag] of tags.entries()) {
        if (matching.some((rule) => rule.keeps(tag, position))) {
          report.kept++;
          continue;
        }
        const candidate = { repository: repo, tag: tag.tag, digest: tag.digest.value, pushedAt: tag.pushedAt.toISOString() };
        if (options.dryRun || (await manifests.untagIfAt(repo, tag.tag, tag.digest.value))) report.untagged.push(candidate);
        else report.skipped.push(candidate);
      }
    }
    return report;
  }

  private now(): Date {
    return this.deps.now ? this.deps.now() : new Date();
  }
}

interface CompiledRule {
  matchesRepository(name: string): boolean;
  /** `position`: 0 for the newest tag of the repository. */
  keeps(tag: TagRecord, position: number): boolean;
}

function compile(rule: Pick<RetentionRuleDoc, 'repositories' | 'keepLast' | 'keepDays' | 'keepTags'>, now: Date): CompiledRule {
  const repositories = (name: string) => patternMatches(rule.repositories, name);
  const keepTags = (tag: string) => rule.keepTags !== null && patternMatches(rule.keepTags, tag);
  const since = rule.keepDays !== null ? now.getTime() - rule.keepDays * DAY_MS : Infinity;
  return {
    matchesRepository: (name) => repositories(name),
    keeps: (tag, position) =>
      (rule.keepLast !== null && position < rule.keepLast) || tag.pushedAt.getTime() >= since || keepTags(tag.tag),
  };
}

type RuleFields = Pick<RetentionRuleDoc, 'repositories' | 'keepLast' | 'keepDays' | 'keepTags' | 'enabled'>;

/** Checks a rule as sent by a client; `existing` supplies the fields an update leaves out. */
export function validateRule(input: RetentionRuleInput, existing: RuleFields | null): RuleFields {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalidRule('a rule must be a JSON object');
  const known = ['repositories', 'keepLast', 'keepDays', 'keepTags', 'enabled'];
  const unknown = Object.keys(input).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw invalidRule(`unknown field ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${known.join(', ')})`, unknown.slice(0, 10).map((k) => k.slice(0, 50)));

  const pick = <K extends keyof RuleFields>(key: K, fallback: RuleFields[K]): unknown => (key in input ? input[key] : existing ? existing[key] : fallback);
  const repositories = pick('repositories', '' as string);
  if (typeof repositories !== 'string' || repositories.trim() === '' || repositories.length > MAX_PATTERN || patternProblem(repositories)) {
    throw invalidRule('"repositories" must be a pattern of repository names such as "team/*" or "*" (up to 255 characters; * any characters, ? one, {a,b} either)', ['repositories']);
  }
  const keepLast = pick('keepLast', null);
  if (keepLast !== null && (typeof keepLast !== 'number' || !Number.isInteger(keepLast) || keepLast < 1 || keepLast > 1_000_000)) {
    throw invalidRule('"keepLast" must be a whole number of tags from 1 up, or null', ['keepLast']);
  }
  const keepDays = pick('keepDays', null);
  if (keepDays !== null && (typeof keepDays !== 'number' || !Number.isFinite(keepDays) || keepDays <= 0 || keepDays > 36_500)) {
    throw invalidRule('"keepDays" must be a number of days greater than 0, or null', ['keepDays']);
  }
  if (keepLast === null && keepDays === null) {
    throw invalidRule('a rule needs "keepLast" (keep the newest N tags), "keepDays" (keep tags pushed within D days), or both', ['keepLast', 'keepDays']);
  }
  const keepTags = pick('keepTags', null);
  if (keepTags !== null && (typeof keepTags !== 'string' || keepTags.trim() === '' || keepTags.length > MAX_PATTERN || patternProblem(keepTags))) {
    throw invalidRule('"keepTags" must be a pattern of tag names to always keep, such as "latest" or "v*", or null', ['keepTags']);
  }
  const enabled = pick('enabled', true);
  if (typeof enabled !== 'boolean') throw invalidRule('"enabled" must be true or false', ['enabled']);
  return { repositories, keepLast, keepDays, keepTags, enabled } as RuleFields;
}

function toRule(doc: RetentionRuleDoc): RetentionRule {
  return {
    id: doc._id,
    repositories: doc.repositories,
    keepLast: doc.keepLast,
    keepDays: doc.keepDays,
    keepTags: doc.keepTags,
    enabled: doc.enabled,
    createdAt: new Date(doc.createdAt).toISOString(),
    updatedAt: new Date(doc.updatedAt).toISOString(),
  };
}

/** A 400 naming the fields at fault (FieldErrorDetail), so the UI shows the message next to them. */
function invalidRule(message: string, fields: string[] = []): RegistryError {
  return new RegistryError('BAD_REQUEST', { message: `invalid retention rule: ${message}`, detail: { fields } satisfies FieldErrorDetail });
}

function unknownRule(id: string): RegistryError {
  return new RegistryError('NOT_FOUND', { message: `no retention rule with id "${id.slice(0, 100)}"` });
}
