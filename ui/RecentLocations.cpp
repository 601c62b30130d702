#include "RecentLocations.h"

#include <QFileInfo>
#include <QSettings>

namespace lms::ui {
namespace {
const QString kKey = QStringLiteral("browser/recentLocations");
}

RecentLocations::RecentLocations(QObject* parent) : QObject(parent) {
    m_paths = QSettings().value(kKey).toStringList();
    while (m_paths.size() > kMaximum) m_paths.removeLast();
}

void RecentLocations::add(const QString& path) {
    const QString absolute = QFileInfo(path).absoluteFilePath();
    if (!m_paths.isEmpty() && m_paths.front() == absolute) return;
    m_paths.removeAll(absolute);
    m_paths.prepend(absolute);
    while (m_paths.size() > kMaximum) m_paths.removeLast();
    save();
    emit changed();
}

void RecentLocations::clear() {
    if (m_paths.isEmpty()) return;
    m_paths.clear();
    save();
    emit changed();
}

void RecentLocations::save() const {
    QSettings().setValue(kKey, m_paths);
}

}  // namespace lms::ui
