#pragma once
// Conversions between core values and the text the studio shows. Pure functions, no widgets.

#include "lms/base/Error.h"
#include "lms/lora/LoraPlan.h"

#include <QString>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace lms::ui {

inline QString qs(const std::string& text) {
    return QString::fromStdString(text);
}
inline QString qs(std::string_view text) {
    return QString::fromUtf8(text.data(), qsizetype(text.size()));
}
inline QString qs(const std::filesystem::path& path) {
    return QString::fromStdString(path.string());
}
inline std::filesystem::path toPath(const QString& path) {
    return std::filesystem::path(path.toStdString());
}

// "[32, 64]"; "scalar" for [].
QString shapeText(std::span<const int64_t> dims);
// "1.5 MiB" (binary units, as the CLI prints them).
QString bytesText(uint64_t bytes);
// "base", "LoRA A", ... as people read them.
QString roleText(TensorRole role);
// "1 234 567" with the locale's group separator.
QString countText(uint64_t count);
// A compact number for statistics: 6 significant digits, scientific for very large/small values.
QString numberText(double value);
// "12 s", "3 min 05 s", "1 h 02 min".
QString durationText(double seconds);
// The adapter field's text (`PATH[:WEIGHT]; ...`, the core's parseAdapterList) with every path made
// absolute and each weight other than 1 kept ("/abs/a.ckpt; /abs/b.ckpt:-0.5"); unparsable text is
// returned trimmed, so resolve() names the error.
QString absoluteAdapterList(const QString& text);

// Natural order, independent of the locale: digit runs compare as numbers (layers.2 < layers.10),
// the rest case-insensitively. Returns <0, 0 or >0.
int naturalCompare(const QString& a, const QString& b);

// One paragraph for a person: the message first, then where ("in model.ckpt, parameter x").
QString errorText(const Error& error);

}  // namespace lms::ui
