#include "EnglishPlurals.h"

#include <QCoreApplication>

namespace lms::ui {

QString EnglishPlurals::translate(const char*, const char* sourceText, const char*, int n) const {
    if (n < 0 || !sourceText) return {};
    QString text = QString::fromUtf8(sourceText);
    if (!text.contains(QLatin1StringView("(s)"))) return {};
    text.replace(QLatin1StringView("(s)"), n == 1 ? QString() : QStringLiteral("s"));
    return text;
}

void installEnglishPlurals() {
    static EnglishPlurals* installed = nullptr;
    if (installed || !QCoreApplication::instance()) return;
    installed = new EnglishPlurals(QCoreApplication::instance());
    QCoreApplication::installTranslator(installed);
}

}  // namespace lms::ui
