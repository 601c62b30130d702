#include "lms/merge/Job.h"

#include "lms/distributed/Checkpoint2.h"
#include "lms/distributed/Distributed.h"
#include "lms/formats/ShardFolder.h"
#include "lms/lora/LoraPlan.h"

#include <algorithm>
#include <unordered_set>

namespace lms {

namespace {

// Base tensors first, then the tensors of each adapter that take part (`kept`: indexes into that
// adapter's tensors), adapter k >= 1 under its tagged names (adapterTensorName) so that adapters
// with identical LoRA names stay apart; reads go to whichever source holds the tensor.
class CombinedSource final : public ModelSource {
public:
    CombinedSource(std::unique_ptr<ModelSource> base, std::vector<std::unique_ptr<ModelSource>> adapters,
                   const std::vector<std::vector<size_t>>& kept)
        : base_(std::move(base)), adapters_(std::move(adapters)) {
        tensors_ = base_->tensors();
        for (size_t k = 0; k < adapters_.size(); ++k)
            for (size_t i : kept[k]) {
                tensors_.push_back(adapters_[k]->tensors()[i]);
                if (k > 0) tensors_.back().name = adapterTensorName(k, tensors_.back().name);
                origin_.push_back({k, i});
            }
    }
    std::string description() const override {
        std::string text = base_->description() + " with the adapter";
        if (adapters_.size() > 1) text += "s";
        for (size_t k = 0; k < adapters_.size(); ++k) text += (k ? ", " : " ") + adapters_[k]->description();
        return text;
    }
    const std::vector<SourceTensor>& tensors() const override { return tensors_; }
    Status read(size_t index, std::span<std::byte> out, const CancelToken* cancel) const override {
        const size_t split = base_->tensors().size();
        if (index < split) return base_->read(index, out, cancel);
        const auto [k, i] = origin_[index - split];
        return adapters_[k]->read(i, out, cancel);
    }
    // Delegated so a base tensor streams in row blocks from its own source; the default
    // ModelSource::readRows would read each tensor whole into memory first.
    Status readRows(size_t index, int64_t rowBegin, int64_t rowEnd, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        const size_t split = base_->tensors().size();
        if (index < split) return base_->readRows(index, rowBegin, rowEnd, out, cancel);
        const auto [k, i] = origin_[index - split];
        return adapters_[k]->readRows(i, rowBegin, rowEnd, out, cancel);
    }
    std::optional<RawRecords> rawRecords(size_t index) const override {
        const size_t split = base_->tensors().size();
        if (index < split) return base_->rawRecords(index);
        const auto [k, i] = origin_[index - split];
        return adapters_[k]->rawRecords(i);
    }
    std::vector<std::filesystem::path> inputFiles() const override {
        auto files = base_->inputFiles();
        for (const auto& adapter : adapters_)
            for (auto& f : adapter->inputFiles()) files.push_back(std::move(f));
        return files;
    }
    uint64_t inputBytes() const override {
        uint64_t bytes = base_->inputBytes();
        for (const auto& adapter : adapters_) bytes += adapter->inputBytes();
        return bytes;
    }
    Status verifyInputs(const CancelToken* cancel) const override {
        if (auto st = base_->verifyInputs(cancel); !st) return st;
        for (const auto& adapter : adapters_)
            if (auto st = adapter->verifyInputs(cancel); !st) return st;
        return {};
    }
    std::vector<std::string> reportNotes() const override {
        auto notes = base_->reportNotes();
        for (const auto& adapter : adapters_)
            for (auto& note : adapter->reportNotes()) notes.push_back("adapter " + note);
        return notes;
    }

private:
    std::unique_ptr<ModelSource> base_;
    std::vector<std::unique_ptr<ModelSource>> adapters_;
    std::vector<std::pair<size_t, size_t>> origin_;  // per adapter tensor: adapter, index in it
    std::vector<SourceTensor> tensors_;
};

// "a, b, c" and ", ..." past `limit` names.
std::string nameList(const std::vector<std::string>& names, size_t limit) {
    std::string text;
    for (size_t k = 0; k < names.size() && k < limit; ++k) text += (k ? ", " : "") + names[k];
    return names.size() > limit ? text + ", ..." : text;
}

Result<std::unique_ptr<ModelSource>> openOne(const std::filesystem::path& src, const SourceSpec& spec,
                                             const char* option, std::vector<std::string>* notes,
                                             const CancelToken* cancel) {
    std::error_code ec;
    if (src.empty()) return fail(ErrorCode::InvalidArgument, "no source checkpoint given", {}, option);
    if (!std::filesystem::exists(src, ec))
        return fail(ErrorCode::NotFound, "no such file or folder", src.string(), option);
    if (!std::filesystem::is_directory(src, ec)) {
        if (!spec.strategy.empty() && notes)
            notes->push_back("the source is one full checkpoint, so the strategy " + spec.strategy.string() +
                             " is not needed and was ignored");
        return openFullSource(src, cancel);
    }
    if (!looksDistributed(src)) {
        if (!shardIndexFile(src).empty()) return openShardFolderSource(src, notes, cancel);
        if (looksLikeCheckpoint2(src)) return openCheckpoint2Source(src, notes, cancel);
        // A PEFT adapter folder (peft/utils/save_and_load.py: SAFETENSORS_WEIGHTS_NAME beside
        // adapter_config.json).
        if (std::filesystem::is_regular_file(src / "adapter_model.safetensors", ec))
            return openFullSource(src / "adapter_model.safetensors", cancel);
        return fail(ErrorCode::InvalidArgument,
                    "this folder holds no rank_<n> folders: give a checkpoint file, or the model_dir of a "
                    "distributed "
                    "checkpoint laid out as model_dir/rank_x/xxx.ckpt",
                    src.string(), option);
    }
    if (spec.strategy.empty())
        return fail(
            ErrorCode::InvalidArgument,
            "a distributed checkpoint needs its parallel strategy: pass --src_ckpt_strategy with a "
            "ckpt_strategy_rank_x.ckpt file, or the strategy folder when pipeline parallelism was used",
            src.string(), "src_ckpt_strategy");
    DistributedOptions options;
    options.modelDir = src;
    options.strategy = spec.strategy;
    options.fallbackStrategyDir = spec.fallbackStrategyDir;
    options.writeMergedStrategy = spec.writeMergedStrategy;
    options.ckptNameGlob = spec.ckptNameGlob;
    options.replicaCheck = spec.replicaCheck;
    options.adapter = std::string_view(option) == "adapter";
    return openDistributedSource(options, notes, cancel);
}

}  // namespace

namespace {

// The tensors of one adapter that take part (LoRA-marked names), or the refusal.
Result<std::vector<size_t>> adapterTensors(const std::unordered_set<std::string>& baseNames,
                                           const ModelSource& adapter, std::vector<std::string>* notes) {
    const auto files = adapter.inputFiles();
    const std::string where = files.empty() ? std::string() : files.front().string();
    std::vector<size_t> kept;
    std::vector<std::string> bookkeeping, foreign;
    for (size_t i = 0; i < adapter.tensors().size(); ++i) {
        const auto& t = adapter.tensors()[i];
        // LoRA tensors, their optimizer copies and LoRA-marked names the planner will judge.
        if (!hasLoraMarker(t.name)) {
            // MindSpore's and MindPet's save_checkpoint add epoch_num, step_num, global_step,
            // loss_scale, learning-rate and iterator-step records to every file, adapters included;
            // the base's copies are the ones written.
            uint64_t elements = 1;
            for (auto d : t.dims) elements *= uint64_t(std::max<int64_t>(d, 0));
            (elements <= 1 ? bookkeeping : foreign).push_back(t.name);
            continue;
        }
        if (baseNames.count(t.name))
            return fail(ErrorCode::Mismatch, "the adapter and the base checkpoint both hold this tensor",
                        where, t.name);
        kept.push_back(i);
    }
    if (!foreign.empty())
        return fail(
            ErrorCode::InvalidArgument,
            "the adapter holds " + std::to_string(foreign.size()) + " tensor(s) that are not LoRA weights (" +
                nameList(foreign, 5) +
                "); an adapter must hold only LoRA A/B tensors, their optimizer copies and scalar records",
            where, foreign.front());
    if (!bookkeeping.empty() && notes)
        notes->push_back("ignored " + std::to_string(bookkeeping.size()) +
                         " scalar record(s) of the adapter (" + nameList(bookkeeping, 5) +
                         "); the base checkpoint's records are written");
    return kept;
}

}  // namespace

Result<std::unique_ptr<ModelSource>> combineWithAdapters(std::unique_ptr<ModelSource> base,
                                                         std::vector<std::unique_ptr<ModelSource>> adapters,
                                                         std::vector<std::string>* notes) {
    std::unordered_set<std::string> baseNames;
    for (const auto& t : base->tensors()) baseNames.insert(t.name);
    std::vector<std::vector<size_t>> kept;
    for (const auto& adapter : adapters) {
        auto taking = adapterTensors(baseNames, *adapter, notes);
        if (!taking) return std::unexpected(taking.error());
        kept.push_back(std::move(*taking));
    }
    return std::unique_ptr<ModelSource>(new CombinedSource(std::move(base), std::move(adapters), kept));
}

Result<std::unique_ptr<ModelSource>> combineWithAdapter(std::unique_ptr<ModelSource> base,
                                                        std::unique_ptr<ModelSource> adapter,
                                                        std::vector<std::string>* notes) {
    std::vector<std::unique_ptr<ModelSource>> adapters;
    adapters.push_back(std::move(adapter));
    return combineWithAdapters(std::move(base), std::move(adapters), notes);
}

Result<std::unique_ptr<ModelSource>> openSource(const SourceSpec& spec, std::vector<std::string>* notes,
                                                const CancelToken* cancel) {
    auto base = openOne(spec.src, spec, "src_ckpt_path_or_dir", notes, cancel);
    if (!base || spec.adapter.empty()) return base;
    std::vector<std::unique_ptr<ModelSource>> adapters;
    std::vector<std::filesystem::path> paths{spec.adapter};
    paths.insert(paths.end(), spec.moreAdapters.begin(), spec.moreAdapters.end());
    for (const auto& path : paths) {
        auto adapter = openOne(path, spec, "adapter", notes, cancel);
        if (!adapter) return adapter;
        adapters.push_back(std::move(*adapter));
    }
    return combineWithAdapters(std::move(*base), std::move(adapters), notes);
}

std::filesystem::path mergedOutputFile(const std::filesystem::path& dstDir, const std::string& prefix,
                                       OutputFormat format) {
    return rankOutputFile(dstDir, prefix, 0, format);
}

}  // namespace lms
