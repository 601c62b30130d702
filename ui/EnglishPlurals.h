#pragma once
// English plural forms without a translation file: source strings are written with "(s)"
// ("%n pair(s)") and passed the count (tr(text, nullptr, n)); this translator drops "(s)"
// for one and makes it "s" otherwise. A real translation installed later takes precedence.

#include <QTranslator>

namespace lms::ui {

class EnglishPlurals final : public QTranslator {
    Q_OBJECT
public:
    using QTranslator::QTranslator;
    QString translate(const char* context, const char* sourceText, const char* disambiguation = nullptr,
                      int n = -1) const override;
    bool isEmpty() const override { return false; }
};

// Installs one EnglishPlurals on the application (idempotent).
void installEnglishPlurals();

}  // namespace lms::ui
