#pragma once
// The merge panel's result as JSON, for "Export result…": what the merge wrote and why, from the
// resolved job (source, per-pair scaling with its provenance, notes and warnings of resolve()) and
// the core's MergeReport (outputs, counts, skipped pairs, notes), plus the verification outcome.
// Compact JSON as lms::toJson writes it (keys in the order below), one final newline:
//   {"source":…,"source_description":…,"outputs":[…],"pairs_merged":N,"tensors_written":N,
//    "tensors_dropped":N,"bytes_written":N,"scaling_provenance":…,
//    "pairs":[{"base":…,"a":…,"b":…,"rank":r,"scaling":s,"scaling_source":…},…],
//    "skipped":[…],"notes":[…],"warnings":[…],
//    "verification":{"enabled":bool,"outcome":"passed"|"not run"}}
// `pairs` lists the pairs merged (Ok and scaling ≠ 0), in plan order; `scaling_source` is the
// config's pattern keys that set the pair's r or alpha ("" when global). The time taken is left
// out, so one merge always exports the same bytes.

#include "lms/merge/Request.h"

#include <QByteArray>

namespace lms::ui {

QByteArray mergeResultJson(const ResolvedJob& job, const MergeReport& report);

}  // namespace lms::ui
