#pragma once
// A small command-line parser for `loramerge`: long options in --snake_case or --kebab-case,
// `--name value` or `--name=value`, flags, and positionals. Unknown options are usage errors.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cli {

struct OptionSpec {
    std::string name;  // kebab-case, without dashes
    bool takesValue = false;
    std::string shortName;    // e.g. "o" for -o; optional
    bool repeatable = false;  // may be given several times (all(): every value in order)
};

class Args {
public:
    // Returns an error message on failure (empty on success).
    std::string parse(const std::vector<std::string>& args, const std::vector<OptionSpec>& specs);

    bool has(const std::string& name) const { return values_.count(name) > 0; }
    std::optional<std::string> value(const std::string& name) const;  // the first value
    std::vector<std::string> all(const std::string& name) const;      // every value, in order
    const std::vector<std::string>& positionals() const { return positionals_; }

private:
    std::map<std::string, std::string> values_;
    std::map<std::string, std::vector<std::string>> repeated_;
    std::vector<std::string> positionals_;
};

// The global flags of `loramerge`, valid before or after the command.
struct GlobalFlags {
    bool quiet = false, verbose = false, help = false, version = false;
};
// Takes -q/--quiet, -v/--verbose, -h/--help and --version out of `args` where they stand as
// options. A token that is the value of a value-taking option in `specs` stays where it is, so
// `--prefix -v` keeps "-v" as the prefix; nothing after "--" is taken.
GlobalFlags takeGlobalFlags(std::vector<std::string>& args, const std::vector<OptionSpec>& specs);

// The options of the merge/plan and strategy commands (the value-taking ones matter above).
const std::vector<OptionSpec>& mergeOptionSpecs();
const std::vector<OptionSpec>& strategyOptionSpecs();
const std::vector<OptionSpec>& adapterOptionSpecs();

}  // namespace cli
