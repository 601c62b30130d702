#include "lms/Job.h"

#include "lms/Distributed.h"

namespace lms {

Result<std::unique_ptr<ModelSource>> openSource(const SourceSpec& spec, std::vector<std::string>* notes,
                                                const CancelToken* cancel) {
    std::error_code ec;
    if (spec.src.empty()) return fail(ErrorCode::InvalidArgument, "no source checkpoint given", {}, "src_ckpt_path_or_dir");
    if (!std::filesystem::exists(spec.src, ec))
        return fail(ErrorCode::NotFound, "no such file or folder", spec.src.string(), "src_ckpt_path_or_dir");
    if (!std::filesystem::is_directory(spec.src, ec)) {
        if (!spec.strategy.empty() && notes)
            notes->push_back("the source is one full checkpoint, so the strategy " + spec.strategy.string() +
                             " is not needed and was ignored");
        return openFullSource(spec.src, cancel);
    }
    if (!looksDistributed(spec.src))
        return fail(ErrorCode::InvalidArgument,
                    "this folder holds no rank_<n> folders: give a checkpoint file, or the model_dir of a distributed "
                    "checkpoint laid out as model_dir/rank_x/xxx.ckpt",
                    spec.src.string(), "src_ckpt_path_or_dir");
    if (spec.strategy.empty())
        return fail(ErrorCode::InvalidArgument,
                    "a distributed checkpoint needs its parallel strategy: pass --src_ckpt_strategy with a "
                    "ckpt_strategy_rank_x.ckpt file, or the strategy folder when pipeline parallelism was used",
                    spec.src.string(), "src_ckpt_strategy");
    DistributedOptions options;
    options.modelDir = spec.src;
    options.strategy = spec.strategy;
    options.fallbackStrategyDir = spec.fallbackStrategyDir;
    options.ckptNameGlob = spec.ckptNameGlob;
    return openDistributedSource(options, notes, cancel);
}

std::filesystem::path mergedOutputFile(const std::filesystem::path& dstDir, const std::string& prefix) {
    return dstDir / "rank_0" / (prefix + "0.ckpt");
}

}  // namespace lms
