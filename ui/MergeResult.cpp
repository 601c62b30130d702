#include "MergeResult.h"

#include "lms/base/Json.h"

namespace lms::ui {
namespace {

JsonValue strings(const std::vector<std::string>& items) {
    JsonValue out = JsonValue::array();
    for (const auto& item : items) out.push_back(item);
    return out;
}

JsonValue mergedPairs(const ResolvedJob& job) {
    JsonValue pairs = JsonValue::array();
    for (size_t p = 0; p < job.plan.pairs.size() && p < job.pairScaling.size(); ++p) {
        const auto& pair = job.plan.pairs[p];
        if (pair.status != PairStatus::Ok || job.pairScaling[p] == 0) continue;  // 0: not merged
        JsonValue row = JsonValue::object();
        row.set("base", pair.base).set("a", pair.a).set("b", pair.b).set("rank", pair.rank);
        row.set("scaling", job.pairScaling[p]);
        row.set("scaling_source",
                p < job.pairScalingSource.size() ? job.pairScalingSource[p] : std::string());
        pairs.push_back(std::move(row));
    }
    return pairs;
}

}  // namespace

QByteArray mergeResultJson(const ResolvedJob& job, const MergeReport& report) {
    JsonValue root = JsonValue::object();
    JsonValue outputs = JsonValue::array();
    for (const auto& file : report.outputFiles) outputs.push_back(file.string());
    root.set("source", job.sourcePath.string());
    root.set("source_description", job.source ? job.source->description() : std::string());
    root.set("outputs", std::move(outputs));
    root.set("pairs_merged", uint64_t(report.pairsMerged));
    root.set("tensors_written", uint64_t(report.tensorsWritten));
    root.set("tensors_dropped", uint64_t(report.tensorsDropped));
    root.set("bytes_written", report.bytesWritten);
    root.set("scaling_provenance", job.scalingProvenance);
    root.set("pairs", mergedPairs(job));
    root.set("skipped", strings(report.skipped));
    std::vector<std::string> notes = job.notes;
    notes.insert(notes.end(), report.notes.begin(), report.notes.end());
    root.set("notes", strings(notes));
    root.set("warnings", strings(job.warnings));
    // A merge with verification publishes only what passed the re-read (Verify.h); without it, nothing ran.
    JsonValue verification = JsonValue::object();
    verification.set("enabled", job.options.verify);
    verification.set("outcome", job.options.verify ? "passed" : "not run");
    root.set("verification", std::move(verification));
    const std::string text = toJson(root) + "\n";
    return QByteArray(text.data(), qsizetype(text.size()));
}

}  // namespace lms::ui
