#pragma once
// Shared pieces of the `loramerge` command line: each subcommand is a function taking the
// arguments after its name and returning the process exit code (0 ok, 1 failed, 2 usage).

#include "lms/base/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace lms {
struct MergeRequest;
}

namespace cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct GlobalOptions {
    bool quiet = false;
    bool verbose = false;
};

int runMerge(const std::vector<std::string>& args, const GlobalOptions& global);
int runInspect(const std::vector<std::string>& args, const GlobalOptions& global);
int runPlan(const std::vector<std::string>& args, const GlobalOptions& global);
int runDemo(const std::vector<std::string>& args, const GlobalOptions& global);
// `loramerge diff A B [--json] [--all] [--strategy-a S] [--strategy-b S]`.
int runDiff(const std::vector<std::string>& args, const GlobalOptions& global);
// `loramerge strategy merge DIR [-o FILE]` and `loramerge strategy show FILE [--json]`.
int runStrategy(const std::vector<std::string>& args, const GlobalOptions& global);
// `loramerge adapter export SRC --dst DIR [--format ckpt|safetensors|peft] ...` (CliAdapter.cpp).
int runAdapter(const std::vector<std::string>& args, const GlobalOptions& global);

// `loramerge impact SRC [merge flags]`: per LoRA pair ‖s·B·A‖/‖W‖, ranks, unchanged elements.
int runImpact(const std::vector<std::string>& args, const GlobalOptions& global);

// Prints "loramerge: error: <describe()>" on stderr and returns kExitFailed.
int reportError(const lms::Error& error);
// Prints "loramerge: <message>" plus a hint to run --help, returns kExitUsage.
int usageError(const std::string& message);

// The flags of merge and plan mapped onto `request` (CliMerge.cpp); an exit code on a usage error.
std::optional<int> parseMergeRequest(const std::vector<std::string>& args, lms::MergeRequest& request,
                                     bool& json);

// Options are accepted as --snake_case and --kebab-case; this maps both to kebab-case.
std::string normalizeOptionName(std::string name);

}  // namespace cli
