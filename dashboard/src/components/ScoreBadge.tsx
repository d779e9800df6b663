import type { Score, Tier } from "../api";

const TIER_LABEL: Record<Tier, string> = { excellent: "Excellent", good: "Good", fair: "Fair" };

/** The tier-coloured score badge: "🔥 High Value · 85". Colour is never the only signal. */
export function ScoreBadge({ score, compact = false }: { score: Score; compact?: boolean }) {
  const tier = score.tier;
  return (
    <span
      className={`score-badge tier-${tier}`}
      title={`${TIER_LABEL[tier] ?? tier} match, score ${score.score} of 100`}
    >
      <span className="score-badge__text">{score.badge.text}</span>
      {!compact && <span className="score-badge__score">{score.score}</span>}
    </span>
  );
}

export function TierTag({ tier }: { tier: Tier }) {
  return <span className={`tier-tag tier-${tier}`}>{TIER_LABEL[tier] ?? tier}</span>;
}
