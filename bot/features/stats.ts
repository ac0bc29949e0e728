/**
 * `/stats` for admins: the security KPIs computed from the data (shared/metrics/kpis.ts), the number of
 * active decisions and the last day's security events.
 */
import { Composer } from 'grammy';
import type { Db } from '#shared/db/index.ts';
import type { Defense } from '#shared/defense/index.ts';
import { findUserByTelegramId } from '#shared/identity/users.ts';
import { computeKpis, eventsByHour } from '#shared/metrics/kpis.ts';
import type { Context } from '../context.ts';

export interface StatsFeatureDeps {
  db: Db;
  defense: Pick<Defense, 'decisions'>;
}

export function statsFeature(deps: StatsFeatureDeps) {
  const composer = new Composer<Context>();
  composer.chatType('private').command('stats', async (ctx, next) => {
    const user = await findUserByTelegramId(deps.db, ctx.from.id);
    // Answered like an unknown command: no hint that admin commands exist.
    if (user?.role !== 'admin' || user.status !== 'active') return next();
    return ctx.reply(await renderStats(ctx.t, deps));
  });
  return composer;
}

/** The /stats text (also the /admin menu's Stats section). */
export async function renderStats(t: Context['t'], deps: StatsFeatureDeps): Promise<string> {
  const [kpis, hours, active] = await Promise.all([
    computeKpis(deps.db),
    eventsByHour(deps.db, 24),
    deps.defense.decisions.listActive(1000),
  ]);
  const none = t('stats.no_data');
  const percent = (value: number | null) => (value === null ? none : `${(value * 100).toFixed(1)}%`);
  const body = t('stats.body', {
    authSuccessRate: percent(kpis.authSuccessRate),
    failedLoginRate: percent(kpis.failedLoginRate),
    dsrOnTimeRate: percent(kpis.dsrOnTimeRate),
    highRiskFindings: kpis.highRiskFindings === null ? none : kpis.highRiskFindings,
    activeDecisions: active.length,
    events: hours.reduce((sum, hour) => sum + hour.count, 0),
    failures: hours.reduce((sum, hour) => sum + hour.failures, 0),
  });
  return `${t('stats.header')}\n\n${body}`;
}
