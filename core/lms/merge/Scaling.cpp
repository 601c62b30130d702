// The LoRA scaling s of W' = W + s·B·A as the user gives it (Merge.h ScalingSpec).
#include "lms/merge/Merge.h"

#include <charconv>
#include <cmath>

namespace lms {
namespace {

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
    while (!text.empty() && isSpace(text.back())) text.remove_suffix(1);
    return text;
}

// One number as Python's float() reads it for MindFormers' `--lora_scaling` (argparse type=float,
// mindformers/tools/transform_ckpt_lora.py, the `--lora_scaling` add_argument): whitespace around
// it and one leading sign, '+' included (std::from_chars alone refuses '+'). float() also reads
// "inf" and "nan" and overflows "1e999" to inf; those are refused by the caller, not here.
// nullopt when the text is not a number at all.
std::optional<double> parseNumber(std::string_view text) {
    text = trimmed(text);
    bool negative = false;
    if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
        negative = text.front() == '-';
        text.remove_prefix(1);
    }
    if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range) {
        // from_chars leaves value unset here; float() gives inf (too large) or 0 (too small): small
        // when the exponent is negative, or without exponent when the digits start "0." or ".".
        const auto e = text.find_first_of("eE");
        const bool tiny = e != std::string_view::npos ? text.substr(e + 1).starts_with('-')
                                                      : text.starts_with('0') || text.starts_with('.');
        value = tiny ? 0.0 : HUGE_VAL;
    } else if (ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return negative ? -value : value;
}

Error scalingError(std::string message) {
    return Error{ErrorCode::InvalidArgument, std::move(message), {}, "lora_scaling", std::nullopt};
}

}  // namespace

Result<double> parseScalingText(std::string_view text) {
    std::string quoted(1, '\'');  // built by appending: GCC 12 warns falsely (-Wrestrict) on "'" + string
    quoted.append(text).push_back('\'');
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        const auto value = parseNumber(text);
        if (!value) return std::unexpected(scalingError("not a number: " + quoted));
        if (!std::isfinite(*value)) return std::unexpected(scalingError(quoted + " is not a finite number"));
        return *value;
    }
    const auto alpha = parseNumber(text.substr(0, slash));
    const auto rank = parseNumber(text.substr(slash + 1));
    if (!alpha || !rank)
        return std::unexpected(scalingError("expected a number or alpha/rank such as 16/8, got " + quoted));
    if (!std::isfinite(*alpha) || !std::isfinite(*rank))
        return std::unexpected(scalingError(quoted + " is not a finite number"));
    // A LoRA rank counts the columns of B: zero or negative is no rank (a negative alpha still
    // subtracts the adapter, as a negative --lora_scaling does).
    if (!(*rank > 0))
        return std::unexpected(scalingError("the rank in " + quoted + " must be a positive integer"));
    const double value = *alpha / *rank;
    if (!std::isfinite(value))
        return std::unexpected(scalingError(quoted + " overflows: the scaling must be a finite number"));
    if (std::floor(*rank) != *rank)
        return std::unexpected(scalingError("the rank in " + quoted + " must be a positive integer"));
    return value;
}

Result<double> parseLoraRank(std::string_view text) {
    const auto value = parseNumber(text);
    if (!value || !std::isfinite(*value) || !(*value >= 1) || std::floor(*value) != *value)
        return fail(ErrorCode::InvalidArgument, "expected a positive integer, got " + std::string(text), {},
                    "lora_rank");
    return *value;
}

Result<double> ScalingSpec::scalingFor(int64_t pairRank) const {
    if (scaling) return *scaling;
    if (alpha) {
        const double r = rank ? *rank : double(pairRank);
        if (r <= 0) return fail(ErrorCode::InvalidArgument, "LoRA rank must be positive", {}, "lora_rank");
        return *alpha / r;
    }
    return fail(
        ErrorCode::InvalidArgument,
        "no LoRA scaling given: the merge adds (lora_alpha / lora_rank)·B·A, so pass --lora_scaling "
        "ALPHA/RANK "
        "(e.g. 16/8, the values of pet_config in your training YAML) or --lora_alpha ALPHA (the rank is then "
        "read from the LoRA shapes)",
        {}, "lora_scaling");
}

}  // namespace lms
