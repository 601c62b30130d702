#pragma once
// The built-in demo: a small full checkpoint and a small 2-rank distributed checkpoint (with its
// strategy), both with LoRA pairs, so every feature can be tried without real data.
//
//   DIR/full/model.ckpt                      full checkpoint, Float16 base, LoRA r=4 alpha=8
//   DIR/distributed/rank_0/checkpoint_0.ckpt  2-way tensor parallel slices
//   DIR/distributed/rank_1/checkpoint_1.ckpt
//   DIR/distributed/strategy/ckpt_strategy_rank_0.ckpt (and _rank_1)
//   DIR/README.txt                            what is inside and the commands to merge it

#include "lms/base/Error.h"

#include <filesystem>

namespace lms {

struct DemoInfo {
    std::filesystem::path fullCheckpoint;
    std::filesystem::path distributedDir;
    std::filesystem::path strategyDir;
    double loraAlpha = 8;
    int loraRank = 4;
};

[[nodiscard]] Result<DemoInfo> writeDemo(const std::filesystem::path& dir);

}  // namespace lms
