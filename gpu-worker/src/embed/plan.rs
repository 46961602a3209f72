//! Token-budget batching: which inputs share one forward pass.

/// Fixed cost of one forward pass, in padded-token equivalents: dispatch, submission and
/// readback overhead, and the lower utilisation of small batches. A heuristic: one
/// maximal (256-token) sequence.
pub(crate) const BATCH_OVERHEAD_TOKENS: usize = 256;

/// Groups input indices into batches for the forward pass.
///
/// `lens[i]` is the token count of input `i` (after truncation, special tokens included,
/// always >= 1). Inputs are sorted by length, longest first (stable, so equal lengths keep
/// their order); a batch is a run of consecutive inputs in that order, padded to its first
/// (longest) member's length `L`, with `members * L <= max_tokens` and
/// `members <= max_seqs`. Among all such partitions, dynamic programming picks the one
/// minimising Σ (members·L + [`BATCH_OVERHEAD_TOKENS`]): padding is only accepted where it
/// saves a whole extra pass. Cost O(n · max_seqs) time, O(n) memory.
///
/// Returns the batches as lists of original indices, longest batch first; every index
/// appears exactly once. Panics if `max_tokens` is smaller than the longest input or
/// `max_seqs` is 0 (the embedder guarantees neither happens).
pub(crate) fn plan_batches(lens: &[usize], max_tokens: usize, max_seqs: usize) -> Vec<Vec<usize>> {
    assert!(max_seqs > 0, "max_seqs must be positive");
    let mut order: Vec<usize> = (0..lens.len()).collect();
    order.sort_by(|&a, &b| lens[b].cmp(&lens[a]));
    let n = order.len();
    if let Some(&first) = order.first() {
        assert!(
            lens[first] <= max_tokens,
            "input of {} tokens exceeds the batch budget {max_tokens}",
            lens[first]
        );
    }
    // cost[j]: cheapest plan of the first j sorted inputs; start[j]: where its last batch begins.
    let mut cost = vec![usize::MAX; n + 1];
    let mut start = vec![0usize; n + 1];
    cost[0] = 0;
    for i in 0..n {
        if cost[i] == usize::MAX {
            continue;
        }
        let l = lens[order[i]];
        let most = (max_tokens / l).min(max_seqs).min(n - i);
        for size in 1..=most {
            let c = cost[i] + size * l + BATCH_OVERHEAD_TOKENS;
            if c < cost[i + size] {
                cost[i + size] = c;
                start[i + size] = i;
            }
        }
    }
    let mut batches = Vec::new();
    let mut j = n;
    while j > 0 {
        let i = start[j];
        batches.push(order[i..j].to_vec());
        j = i;
    }
    batches.reverse();
    batches
}

#[cfg(test)]
mod tests {
    use super::plan_batches;

    #[test]
    fn every_index_once_and_budget_respected() {
        let lens = [5, 256, 3, 3, 100, 7, 2, 256, 64];
        let batches = plan_batches(&lens, 512, 4);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..lens.len()).collect::<Vec<_>>());
        for b in &batches {
            let l = b.iter().map(|&i| lens[i]).max().unwrap();
            assert_eq!(l, lens[b[0]], "first member is the longest");
            assert!(b.len() * l <= 512 && b.len() <= 4);
        }
        assert_eq!(batches[0], vec![1, 7]);
    }

    #[test]
    fn short_inputs_are_not_padded_to_long_ones() {
        // Two 256-token inputs and forty 8-token ones: padding the short ones to 256 would
        // cost far more than a second pass.
        let mut lens = vec![256, 256];
        lens.extend(std::iter::repeat_n(8, 40));
        let batches = plan_batches(&lens, 8192, 1024);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0], vec![0, 1]);
        assert_eq!(batches[1].len(), 40);
    }

    #[test]
    fn similar_lengths_share_a_pass() {
        let lens: Vec<usize> = (100..132).collect();
        assert_eq!(plan_batches(&lens, 8192, 1024).len(), 1);
    }

    #[test]
    fn empty_input_gives_no_batches() {
        assert!(plan_batches(&[], 256, 8).is_empty());
    }
}
