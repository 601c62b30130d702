#include "lms/base/Error.h"

namespace lms {

const char* errorCodeName(ErrorCode code) {
    switch (code) {
        case ErrorCode::Io:
            return "I/O error";
        case ErrorCode::Malformed:
            return "malformed input";
        case ErrorCode::Unsupported:
            return "not supported";
        case ErrorCode::InvalidArgument:
            return "invalid argument";
        case ErrorCode::NotFound:
            return "not found";
        case ErrorCode::Mismatch:
            return "inputs do not match";
        case ErrorCode::Cancelled:
            return "cancelled";
    }
    return "error";
}

std::string Error::describe() const {
    std::string out;
    if (!file.empty()) out += file;
    if (!parameter.empty()) {
        if (!out.empty()) out += ": ";
        out += "parameter '" + parameter + "'";
    }
    if (offset) {
        out += out.empty() ? "" : " ";
        out += "at byte " + std::to_string(*offset);
    }
    if (!out.empty()) out += ": ";
    out += message;
    return out;
}

}  // namespace lms
