#pragma once
// The stages runMerge (Merge.h) runs in order, each callable on its own (tests, other drivers):
//
//   auto run = mergeTargetsStage(source, options, progress, cancel);  // plan, refuse, open outputs
//   mergeStreamStage(**run, progress, cancel);               // every parameter into the outputs
//   mergeVerifyStage(**run, progress, cancel);               // finish + re-read (options.verify)
//   mergePublishStage(**run, progress);                      // all outputs, or none, go live
//
// A stage that fails leaves the MergeRun unpublished; destroying it removes every temp file and
// the folders the run created. No stage throws: std::bad_alloc / std::length_error (reader
// thread included) become ErrorCode::Io errors "not enough memory: ... needs N bytes" naming the
// parameter.

#include "lms/merge/Merge.h"
#include "lms/merge/Verify.h"

#include "lms/distributed/Layout.h"
#include "lms/formats/TensorSink.h"

#include <filesystem>
#include <memory>
#include <vector>

namespace lms {

class CheckpointWriter;

// One output file: the whole merged model, or one destination rank's share of it.
struct Target {
    std::filesystem::path file;
    std::unique_ptr<TensorSink> sink;
    CheckpointWriter* ckpt = nullptr;   // set for .ckpt output: whole tensors can be copied as records
    std::vector<Placement> placements;  // one per source tensor (dropped ones unused)
    bool full = true;
};

// Folders a run created for its outputs; removed again (when empty) unless the run published.
struct CreatedDirectories {
    std::vector<std::filesystem::path> dirs;
    bool keep = false;
    CreatedDirectories() = default;
    CreatedDirectories(const CreatedDirectories&) = delete;
    CreatedDirectories& operator=(const CreatedDirectories&) = delete;
    ~CreatedDirectories();
};

// The state the stages hand on. `created` is declared first so it is destroyed last, after the
// sinks have removed their temp files (RELIABILITY.md F3).
struct MergeRun {
    CreatedDirectories created;
    const ModelSource* source = nullptr;
    MergeOptions options;
    LoraPlan plan;
    std::vector<double> scalings;  // per plan pair (0 unless Ok)
    std::vector<Target> targets;
    std::vector<MergedPairRef> merged;  // filled by the stream stage
    MergeReport report;
    Progress state;            // the progress reported so far
    uint64_t currentNeed = 0;  // bytes state.currentItem holds in memory at once
    std::chrono::steady_clock::time_point started;
};

// Plans the outputs and refuses bad requests before anything is written (nothing to merge into,
// LoRA problems without skipInvalid, no scaling, layout errors, output over or beside an input),
// creates missing output folders, verifies input CRCs (options.checkInputCrc) and opens one temp
// output per target. `source` must outlive the run.
[[nodiscard]] Result<std::unique_ptr<MergeRun>> mergeTargetsStage(const ModelSource& source,
                                                                  const MergeOptions& options,
                                                                  ThrottledProgress& progress,
                                                                  const CancelToken* cancel = nullptr);
// Streams every kept parameter into every target (a reader thread reads ahead and adds the
// deltas, this thread writes), then finishes (fsyncs) every output.
[[nodiscard]] Status mergeStreamStage(MergeRun& run, ThrottledProgress& progress,
                                      const CancelToken* cancel = nullptr);
// With options.verify, re-reads every finished output (see runMerge); otherwise does nothing.
[[nodiscard]] Status mergeVerifyStage(MergeRun& run, ThrottledProgress& progress,
                                      const CancelToken* cancel = nullptr);
// Publishes every output (no-clobber unless options.overwrite); if one fails, the ones already
// published by this call are removed again, so a multi-file output is all or nothing.
[[nodiscard]] Status mergePublishStage(MergeRun& run, ThrottledProgress& progress);

}  // namespace lms
