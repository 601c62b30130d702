#include "UiText.h"

#include "lms/merge/Request.h"

#include <QDir>
#include <QFileInfo>
#include <QStringList>

#include "lms/base/Text.h"

#include <QCoreApplication>
#include <QLocale>
#include <cmath>

namespace lms::ui {

QString shapeText(std::span<const int64_t> dims) {
    if (dims.empty()) return QCoreApplication::translate("UiText", "scalar");
    return qs(formatDims(dims, ", "));
}

QString bytesText(uint64_t bytes) {
    return qs(formatBytes(bytes));
}

QString roleText(TensorRole role) {
    switch (role) {
        case TensorRole::Base:
            return QCoreApplication::translate("UiText", "base");
        case TensorRole::LoraA:
            return QCoreApplication::translate("UiText", "LoRA A");
        case TensorRole::LoraB:
            return QCoreApplication::translate("UiText", "LoRA B");
        case TensorRole::OptimizerState:
            return QCoreApplication::translate("UiText", "optimizer state");
        case TensorRole::Other:
            break;
    }
    return QCoreApplication::translate("UiText", "other");
}

QString countText(uint64_t count) {
    return QLocale().toString(qulonglong(count));
}

QString numberText(double value) {
    if (std::isnan(value)) return QStringLiteral("NaN");
    if (std::isinf(value)) return value > 0 ? QStringLiteral("+inf") : QStringLiteral("-inf");
    if (value == 0) return QStringLiteral("0");
    const double magnitude = std::fabs(value);
    if (magnitude >= 1e6 || magnitude < 1e-4) return QString::number(value, 'e', 4);
    return QString::number(value, 'g', 6);
}

QString durationText(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) return QStringLiteral("–");
    if (seconds < 0.01) return QCoreApplication::translate("UiText", "under 0.01 s");
    if (seconds < 10)
        return QCoreApplication::translate("UiText", "%1 s")
            .arg(QString::number(seconds, 'f', seconds < 1 ? 2 : 1));
    const auto total = qint64(std::llround(seconds));
    if (total < 60) return QCoreApplication::translate("UiText", "%1 s").arg(total);
    if (total < 3600)
        return QCoreApplication::translate("UiText", "%1 min %2 s")
            .arg(total / 60)
            .arg(total % 60, 2, 10, QLatin1Char('0'));
    return QCoreApplication::translate("UiText", "%1 h %2 min")
        .arg(total / 3600)
        .arg((total % 3600) / 60, 2, 10, QLatin1Char('0'));
}

int naturalCompare(const QString& a, const QString& b) {
    qsizetype i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (a[i].isDigit() && b[j].isDigit()) {
            qsizetype i2 = i, j2 = j;
            while (i2 < a.size() && a[i2].isDigit()) ++i2;
            while (j2 < b.size() && b[j2].isDigit()) ++j2;
            // Compare the runs as numbers of any length: skip leading zeros, then longer is larger.
            qsizetype si = i, sj = j;
            while (si + 1 < i2 && a[si] == QLatin1Char('0')) ++si;
            while (sj + 1 < j2 && b[sj] == QLatin1Char('0')) ++sj;
            if (i2 - si != j2 - sj) return (i2 - si) < (j2 - sj) ? -1 : 1;
            for (; si < i2; ++si, ++sj)
                if (a[si] != b[sj]) return a[si] < b[sj] ? -1 : 1;
            i = i2;
            j = j2;
            continue;
        }
        const QChar x = a[i].toCaseFolded(), y = b[j].toCaseFolded();
        if (x != y) return x < y ? -1 : 1;
        ++i;
        ++j;
    }
    if (i < a.size()) return 1;
    if (j < b.size()) return -1;
    return QString::compare(a, b);  // equal ignoring case and zeros: keep a stable total order
}

QString errorText(const Error& error) {
    QString text = qs(error.message);
    if (!text.isEmpty()) text[0] = text[0].toUpper();
    QStringList where;
    if (!error.file.empty()) where << QCoreApplication::translate("UiText", "file %1").arg(qs(error.file));
    if (!error.parameter.empty())
        where << QCoreApplication::translate("UiText", "parameter %1").arg(qs(error.parameter));
    if (error.offset)
        where << QCoreApplication::translate("UiText", "at byte %1").arg(countText(*error.offset));
    while (text.endsWith(QLatin1Char('.'))) text.chop(1);
    if (!where.isEmpty()) text += QStringLiteral(" (") + where.join(QStringLiteral(", ")) + QLatin1Char(')');
    if (!text.endsWith(QLatin1Char('?')) && !text.endsWith(QLatin1Char('!'))) text += QLatin1Char('.');
    return text;
}

QString absoluteAdapterList(const QString& text) {
    const auto adapters = parseAdapterList(text.toStdString());
    if (!adapters) return text.trimmed();
    QStringList entries;
    for (const auto& adapter : *adapters) {
        QString entry = QFileInfo(QDir::fromNativeSeparators(qs(adapter.path))).absoluteFilePath();
        if (adapter.weight != 1) entry += QLatin1Char(':') + QString::number(adapter.weight, 'g', 17);
        entries << entry;
    }
    return entries.join(QStringLiteral("; "));
}

}  // namespace lms::ui
