#include "Args.h"

#include "Cli.h"

namespace cli {

std::string normalizeOptionName(std::string name) {
    for (auto& c : name)
        if (c == '_') c = '-';
    return name;
}

GlobalFlags takeGlobalFlags(std::vector<std::string>& args, const std::vector<OptionSpec>& specs) {
    GlobalFlags flags;
    std::vector<std::string> rest;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--") {
            rest.insert(rest.end(), args.begin() + long(i), args.end());
            break;
        }
        bool* flag = arg == "-q" || arg == "--quiet"     ? &flags.quiet
                     : arg == "-v" || arg == "--verbose" ? &flags.verbose
                     : arg == "-h" || arg == "--help"    ? &flags.help
                     : arg == "--version"                ? &flags.version
                                                         : nullptr;
        if (flag) {
            *flag = true;
            continue;
        }
        rest.push_back(arg);
        if (arg.size() < 2 || arg[0] != '-' || arg.find('=') != std::string::npos) continue;
        // An option that takes a value: its value is the next token, whatever it looks like.
        const bool isLong = arg.starts_with("--");
        const std::string name = isLong ? normalizeOptionName(arg.substr(2)) : arg.substr(1);
        for (const auto& spec : specs)
            if (spec.takesValue && (isLong ? spec.name == name : spec.shortName == name) &&
                i + 1 < args.size()) {
                rest.push_back(args[++i]);
                break;
            }
    }
    args = std::move(rest);
    return flags;
}

std::optional<std::string> Args::value(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

std::vector<std::string> Args::all(const std::string& name) const {
    auto it = repeated_.find(name);
    return it == repeated_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::parse(const std::vector<std::string>& args, const std::vector<OptionSpec>& specs) {
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--") {
            positionals_.insert(positionals_.end(), args.begin() + long(i) + 1, args.end());
            break;
        }
        if (arg.size() < 2 || arg[0] != '-') {
            positionals_.push_back(arg);
            continue;
        }
        std::string name;
        std::optional<std::string> inlineValue;
        if (arg.starts_with("--")) {
            name = arg.substr(2);
            if (auto eq = name.find('='); eq != std::string::npos) {
                inlineValue = name.substr(eq + 1);
                name = name.substr(0, eq);
            }
            name = normalizeOptionName(name);
        } else {
            name = arg.substr(1);
        }
        const OptionSpec* spec = nullptr;
        for (const auto& s : specs)
            if (s.name == name || (!s.shortName.empty() && !arg.starts_with("--") && s.shortName == name))
                spec = &s;
        if (!spec) return "unknown option " + arg;
        if (values_.count(spec->name) && !spec->repeatable) return "option --" + spec->name + " given twice";
        if (!spec->takesValue) {
            if (inlineValue) return "option --" + spec->name + " takes no value";
            values_[spec->name] = "";
            continue;
        }
        if (!inlineValue) {
            if (i + 1 >= args.size()) return "option --" + spec->name + " needs a value";
            inlineValue = args[++i];
        }
        values_.try_emplace(spec->name, *inlineValue);
        repeated_[spec->name].push_back(*inlineValue);
    }
    return {};
}

}  // namespace cli
