#pragma once
// Errors as values: every fallible core function returns Result<T> or Status.
// No exception crosses the core's API.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>

namespace lms {

enum class ErrorCode {
    Io,               // the operating system refused a read, write, open, rename ...
    Malformed,        // the bytes are not what the format promises (truncated, overrunning, foreign)
    Unsupported,      // valid but outside what we implement (encryption, manual split, ...)
    InvalidArgument,  // the caller's parameters are wrong (bad scaling, output inside input, ...)
    NotFound,         // a named file, rank or parameter does not exist
    Mismatch,         // inputs disagree with each other (shapes, dtypes, strategy vs files)
    Cancelled,        // the cancel token was triggered
};

const char* errorCodeName(ErrorCode code);

struct Error {
    ErrorCode code = ErrorCode::Malformed;
    std::string message;             // one sentence for a person, without the context below
    std::string file;                // the file concerned, if any
    std::string parameter;           // the checkpoint parameter (tensor name) or CLI option concerned
    std::optional<uint64_t> offset;  // byte offset inside `file`, if known

    // "file: parameter 'x' at byte N: message" with the absent parts left out.
    std::string describe() const;
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(ErrorCode code, std::string message, std::string file = {},
                                   std::string parameter = {},
                                   std::optional<uint64_t> offset = std::nullopt) {
    return std::unexpected(Error{code, std::move(message), std::move(file), std::move(parameter), offset});
}

}  // namespace lms
