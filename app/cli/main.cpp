// loramerge: merge LoRA weights into MindSpore checkpoints from the command line.
#include "Args.h"
#include "Cli.h"

#include "lms/Version.h"
#include "lms/base/Log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <cstdio>
#include <iostream>

namespace {

constexpr const char* kUsage =
    R"(Usage: loramerge [merge] --src_ckpt_path_or_dir SRC --dst_ckpt_dir DST [OPTION]...
  or:  loramerge plan --src_ckpt_path_or_dir SRC [OPTION]...
  or:  loramerge inspect FILE [--stats] [--json]
  or:  loramerge strategy merge DIR [-o FILE]
  or:  loramerge strategy show FILE [--json]
  or:  loramerge diff A B [--json] [--all]
  or:  loramerge adapter export SRC --dst DIR [--format ckpt|safetensors|peft]
  or:  loramerge impact SRC [merge options] [--json]
  or:  loramerge demo DIR

Commands:
  merge                       merge LoRA into SRC (the default when the first argument is an option)
  plan                        dry run: the resolved job (pairs, scaling, outputs, free space) and
                              every reason the merge would be refused; writes nothing
  inspect FILE [--stats] [--json]
                              parameters of a checkpoint: names, dtypes, shapes, bytes;
                              --stats: per parameter min, max, mean, std, NaN/Inf and zero counts
  strategy merge DIR [-o FILE]
                              merge per-stage strategy files (pipeline parallelism)
  strategy show FILE [--json]
                              layouts of a strategy file
  diff A B [--json] [--all]   compare two models tensor by tensor (e.g. base and merged): dtype/shape,
                              changed elements, max |d|, relative Frobenius norm, cosine; lists the
                              tensors that differ (--all: every tensor). A or B distributed: --strategy-a S,
                              --strategy-b S
  adapter export SRC --dst DIR [--format ckpt|safetensors|peft] [--src_ckpt_strategy S] [--lora-only]
         [--lora_config F] [--lora_alpha A] [--overwrite]
                              export a LoRA-only adapter (file, rank folders with their strategy, Checkpoint
                              2.0, PEFT folder) as one adapter without merging: DIR/adapter_model.ckpt or
                              .safetensors with the same names, or (peft) DIR/adapter_model.safetensors with
                              base_model.model.<module>.lora_A/B.weight + adapter_config.json (r, lora_alpha from
                              the training config or --lora_alpha); --lora-only: SRC is a model, export its LoRA
  impact SRC [merge options] [--json]
                              before merging: per LoRA pair |s*B*A|/|W|, the rank of B*A (numerical
                              and entropy), and the elements of W the merge would leave unchanged
  demo DIR                    write the built-in demo checkpoints into DIR

Merge options (as in transform_ckpt_lora.py; --kebab-case works too):
  --src_ckpt_path_or_dir SRC  a full checkpoint file (.ckpt or .safetensors), or model_dir holding rank_<n>/
  --src_ckpt_strategy S       distributed only: a strategy file (ckpt_strategy_rank_x.ckpt or a merged one),
                              or the strategy folder (pipeline parallelism; merged into
                              S/merged_ckpt_strategy.ckpt); default: found near SRC (strategy/,
                              output/strategy/, ../strategy/, strategy files beside it); None: none
  --adapter A[:WEIGHT]        a LoRA-only checkpoint (MindPet DELTA_CKP-*.ckpt) to merge into SRC: a file,
                              or a folder of rank_<n>/ folders sliced by the same strategy, or an S-LoRA
                              lora_adapter.json (then --adapter_name NAME picks the adapter); repeat it to
                              merge several in one pass: W + sum of WEIGHT*s*B*A (WEIGHT default 1, not 0;
                              the text after the last colon is a weight only if it is a number)
  --adapter_name NAME         with an S-LoRA lora_adapter.json: the adapter to merge (its adapter_model.ckpt,
                              scaling from its adapter_config.json)
  --dst_ckpt_dir DST          output folder; the result is DST/rank_0/<prefix>0.ckpt
  --prefix P                  output name prefix (default checkpoint_)
  --save_format F             ckpt (default) or safetensors (MindSpore's {"format": "ms"} safetensors)
  --max_shard_size SIZE       with --save_format safetensors: split the output into DST/rank_0/model-0000k-of-0000N
                              .safetensors + model.safetensors.index.json as huggingface_hub does (bytes, or
                              5GB, 500MB in decimal units); one model.safetensors when it all fits
  --dst_ckpt_strategy S       re-shard: write DST/rank_<r>/<prefix><r>.ckpt for every rank of this
                              (single-stage) strategy instead of one full checkpoint
  --lora_scaling S            the scaling s in W' = W + s*B*A: a number or ALPHA/RANK such as 16/8
  --lora_alpha A              alternatively lora_alpha; s = A / lora_rank
  --lora_config FILE          read alpha and rank from the training config (MindFormers YAML, PEFT
                              adapter_config.json or mindformers_adapter_config.json); found beside the adapter
                              or checkpoint when no scaling is given (the manifest also up to 3 folders up)
  --allow-partial             merge although the config's target_modules selects weights with no LoRA pair
                              (default: refuse, naming them)
  --lora_rank R               lora_rank (default: each pair's rank read from its shapes)
  --skip-invalid              merge the valid pairs and report the others (default: stop on any problem)
  --allow-no-lora             write the checkpoint even when it holds no LoRA to merge (default: refuse)
  --square-base ORDER         orientation of square base weights: out-in (default, MindFormers) or in-out
  --ckpt-name GLOB            in each rank folder use the file matching GLOB (default: lexicographically last)
  --check-replicas MODE       compare the copies of every replicated slice across ranks: full (default,
                              every byte), sampled (32 blocks of copies over 64 MiB) or off
  --overwrite                 replace an existing output file
  --no-verify                 skip re-reading the output to check it (verification is on by default)
  --no-crc-check              do not verify a crc_num trailer of the input

Global options:
  -q, --quiet                 only errors
  -v, --verbose               more log lines
      --version               print the version
  -h, --help                  this text

Exit codes: 0 success, 1 failure (one line on stderr says why), 2 usage error.
)";

}  // namespace

namespace cli {

int reportError(const lms::Error& error) {
    std::fprintf(stderr, "loramerge: error: %s\n", error.describe().c_str());
    return kExitFailed;
}

int usageError(const std::string& message) {
    std::fprintf(stderr, "loramerge: %s\nTry 'loramerge --help'.\n", message.c_str());
    return kExitUsage;
}

}  // namespace cli

int main(int argc, char** argv) {
    std::vector<std::string> rest(argv + 1, argv + argc);
    // Global flags are options only: the value of an option (`--prefix -v`) is never one.
    auto valueOptions = cli::mergeOptionSpecs();
    valueOptions.insert(valueOptions.end(), cli::strategyOptionSpecs().begin(),
                        cli::strategyOptionSpecs().end());
    valueOptions.insert(valueOptions.end(), cli::adapterOptionSpecs().begin(),
                        cli::adapterOptionSpecs().end());
    const auto flags = cli::takeGlobalFlags(rest, valueOptions);
    if (flags.help) {
        std::fputs(kUsage, stdout);
        return cli::kExitOk;
    }
    if (flags.version) {
        std::printf("loramerge %s\n", lms::kVersion);
        return cli::kExitOk;
    }
    cli::GlobalOptions global;
    global.quiet = flags.quiet;
    global.verbose = flags.verbose;
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    sink->set_pattern("loramerge: %^%l%$: %v");
    lms::addLogSink(sink);
    lms::setLogLevel(global.quiet     ? spdlog::level::err
                     : global.verbose ? spdlog::level::debug
                                      : spdlog::level::warn);

    if (rest.empty()) {
        std::fputs(kUsage, stderr);
        return cli::kExitUsage;
    }
    const std::string command = rest.front();
    const std::vector<std::string> commandArgs(rest.begin() + 1, rest.end());
    if (command == "merge") return cli::runMerge(commandArgs, global);
    if (command == "plan") return cli::runPlan(commandArgs, global);
    if (command == "inspect") return cli::runInspect(commandArgs, global);
    if (command == "strategy") return cli::runStrategy(commandArgs, global);
    if (command == "demo") return cli::runDemo(commandArgs, global);
    if (command == "diff") return cli::runDiff(commandArgs, global);
    if (command == "adapter") return cli::runAdapter(commandArgs, global);
    if (command == "impact") return cli::runImpact(commandArgs, global);
    if (command.starts_with("-")) return cli::runMerge(rest, global);  // seed style: flags only
    return cli::usageError("unknown command '" + command + "'");
}
