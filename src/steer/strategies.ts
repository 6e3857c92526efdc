/**
 * Names shared by every part that steers, reports or explores: the steering strategies (paper
 * "Steering dynamic pruning", plus `predicted-class`) and the paper's headline amplification.
 */

/** Index-set strategies of paper Eq. 5, in the order tables and figures list them. */
export const STRATEGIES = ['per-class', 'global', 'random', 'predicted-class'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** The alpha at which the paper reports per-class steering (its Figure 3 and headline numbers). */
export const PAPER_ALPHA = 1.2;
