//! The scan of a block: every log, transaction, call frame or probe answer the matcher can match, in order.

use super::*;

pub(super) fn scan(
    matcher: &Matcher,
    filter: &[Address],
    eval: &mut Eval,
    bundle: &Bundle,
    block: &BlockHeader,
    block_ref: BlockRef,
    out: &mut Vec<Finding>,
) -> Result<(), DetectorError> {
    match matcher {
        Matcher::Event { event, topic0, topics, indexed, words } => {
            let body_words = indexed.iter().filter(|i| !**i).count();
            let prefix0 = topic0.as_ref().map(prefix).unwrap_or_default();
            let first_indexed = topic0.is_some() as usize;
            let mut counter = 0u64;
            let mut values = Vec::with_capacity(indexed.len());
            for (ti, r) in bundle.receipts.iter().enumerate() {
                if !r.status {
                    continue;
                }
                for log in &r.logs {
                    let index = log.log_index.unwrap_or(counter);
                    counter += 1;
                    let t = log.topics();
                    // The first 8 bytes of topic0 first: one integer comparison rejects almost every other log.
                    if t.len() != *topics
                        || topic0.is_some_and(|t0| prefix(&t[0]) != prefix0 || t[0] != t0)
                        || !address_ok(filter, log.address())
                    {
                        continue;
                    }
                    values.clear();
                    if let Some(words) = words {
                        let data = &log.data().data;
                        if data.len() < 32 * body_words {
                            continue;
                        }
                        let (mut topic, mut word) = (first_indexed, 0);
                        for (is_indexed, ty) in indexed.iter().zip(words) {
                            let w = if *is_indexed {
                                topic += 1;
                                t[topic - 1]
                            } else {
                                word += 1;
                                B256::from_slice(&data[32 * (word - 1)..32 * word])
                            };
                            values.push(word_value(ty, w));
                        }
                    } else {
                        let Ok(decoded) = event.decode_log_data(log.data()) else { continue };
                        let (mut ind, mut body) = (decoded.indexed.into_iter(), decoded.body.into_iter());
                        for is_indexed in indexed {
                            match if *is_indexed { ind.next() } else { body.next() } {
                                Some(v) => values.push(v),
                                None => break,
                            }
                        }
                        if values.len() != indexed.len() {
                            continue;
                        }
                    }
                    let hit = Hit {
                        target: log.address(),
                        tx: TxView::of(bundle, ti),
                        log: Some(LogView { address: log.address(), index, topic0: t.first().copied() }),
                        call: None,
                        values: &values,
                    };
                    eval.on_hit(hit, block, block_ref, out)?;
                }
            }
        }
        Matcher::Call { call, selector, top, internal, words } => {
            // Internal calls are only seen in traces: a block without them, or with a trace that failed, would
            // miss matches, so either is an error (as for every trace detector).
            let sites = if *top { "all" } else { "internal" };
            let name = eval.cfg.name.clone();
            let traced = |e: TraceError| {
                DetectorError::new(&name, block_ref, e.cause().prefixed(&format!("calls = \"{sites}\"")))
            };
            let traces = if *internal { Some(call_traces(bundle).map_err(traced)?) } else { None };
            let include_failed = eval.cfg.include_failed;
            let mut values = Vec::new();
            let decode = |input: &[u8], values: &mut Vec<DynSolValue>| -> bool {
                values.clear();
                match words {
                    Some(words) if input.len() >= 32 * words.len() => {
                        values.extend(
                            words
                                .iter()
                                .enumerate()
                                .map(|(i, ty)| word_value(ty, B256::from_slice(&input[32 * i..32 * i + 32]))),
                        );
                        true
                    }
                    Some(_) => false,
                    None => call.abi_decode_input(input).map(|v| *values = v).is_ok(),
                }
            };
            if *top {
                for (i, t) in bundle.transactions.iter().enumerate() {
                    let Some(to) = t.to else { continue };
                    if t.input.get(..4) != Some(selector.as_slice()) || !address_ok(filter, to) {
                        continue;
                    }
                    let Some(tx) = TxView::of(bundle, i) else { continue };
                    if !tx.status && !include_failed {
                        continue;
                    }
                    if !decode(&t.input[4..], &mut values) {
                        continue;
                    }
                    let view = CallView {
                        from: t.from,
                        to,
                        value: t.value,
                        depth: 0,
                        kind: "CALL".to_string(),
                        reverted: !tx.status,
                        gas_used: tx.gas_used,
                    };
                    let hit = Hit { target: to, tx: Some(tx), log: None, call: Some(view), values: &values };
                    eval.on_hit(hit, block, block_ref, out)?;
                }
            }
            for trace in traces.into_iter().flatten() {
                let TxTrace { index: i, hash: tx_hash, top: root } = trace.map_err(traced)?;
                let mut stack: Vec<(&CallFrame, i64, bool)> = Vec::new();
                let root_failed = root.error.is_some();
                stack.extend(root.calls.iter().rev().map(|c| (c, 1, root_failed)));
                while let Some((frame, depth, parent_reverted)) = stack.pop() {
                    let reverted = parent_reverted || frame.error.is_some();
                    stack.extend(frame.calls.iter().rev().map(|c| (c, depth + 1, reverted)));
                    let Some(to) = frame.to else { continue };
                    if frame.input.get(..4) != Some(selector.as_slice()) || !address_ok(filter, to) {
                        continue;
                    }
                    if reverted && !include_failed {
                        continue;
                    }
                    if !decode(&frame.input[4..], &mut values) {
                        continue;
                    }
                    let tx = trace_tx(bundle, i, tx_hash).unwrap_or_else(|| TxView::of_frame(root, tx_hash, i));
                    let view = CallView {
                        from: frame.from,
                        to,
                        value: frame.value.unwrap_or_default(),
                        depth,
                        kind: frame.typ.clone(),
                        reverted,
                        gas_used: frame.gas_used.saturating_to(),
                    };
                    let hit = Hit { target: to, tx: Some(tx), log: None, call: Some(view), values: &values };
                    eval.on_hit(hit, block, block_ref, out)?;
                }
            }
        }
        Matcher::Tx => {
            for (i, t) in bundle.transactions.iter().enumerate() {
                if !filter.is_empty() && !t.to.is_some_and(|to| filter.contains(&to)) {
                    continue;
                }
                let Some(tx) = TxView::of(bundle, i) else { continue };
                let target = tx.to.or(tx.created).unwrap_or_default();
                let hit = Hit { target, tx: Some(tx), log: None, call: None, values: &[] };
                eval.on_hit(hit, block, block_ref, out)?;
            }
        }
        Matcher::Probe { probe, call } => {
            let answer = bundle.probes.get(probe).ok_or_else(|| {
                let reason =
                    format!("rule \"{}\": no answer to its probe of {} at this block", eval.cfg.name, probe.to);
                DetectorError::new(&eval.cfg.name, block_ref, DetectorCause::MissingInput(reason))
            })?;
            let Ok(data) = answer else { return Ok(()) };
            let Ok(values) = call.abi_decode_output(data) else { return Ok(()) };
            let hit = Hit { target: probe.to, tx: None, log: None, call: None, values: &values };
            eval.on_hit(hit, block, block_ref, out)?;
        }
    }
    Ok(())
}

/// The bundle's transaction for trace `i`.
pub(super) fn trace_tx(bundle: &Bundle, i: usize, hash: Option<B256>) -> Option<TxView> {
    let index = match hash {
        Some(h) if bundle.transactions.get(i).is_some_and(|t| t.hash == h) => i,
        Some(h) => bundle.transactions.iter().position(|t| t.hash == h)?,
        None => i,
    };
    TxView::of(bundle, index)
}
