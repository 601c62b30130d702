#include "RecentLocations.h"

#include <QFileInfo>
#include <QSettings>

namespace lms::ui {
namespace {
const QString kKey = QStringLiteral("browser/recentLocations");
const QString kOptionsKey = QStringLiteral("browser/recentOptions");
}  // namespace

RecentLocations::RecentLocations(QObject* parent) : QObject(parent) {
    m_paths = QSettings().value(kKey).toStringList();
    while (m_paths.size() > kMaximum) m_paths.removeLast();
    m_options = QSettings().value(kOptionsKey).toMap();
}

void RecentLocations::add(const QString& path, const QVariantMap& options) {
    const QString absolute = QFileInfo(path).absoluteFilePath();
    const bool sameOrder = !m_paths.isEmpty() && m_paths.front() == absolute;
    if (sameOrder && m_options.value(absolute).toMap() == options) return;
    m_paths.removeAll(absolute);
    m_paths.prepend(absolute);
    while (m_paths.size() > kMaximum) m_paths.removeLast();
    if (options.isEmpty())
        m_options.remove(absolute);
    else
        m_options.insert(absolute, options);
    for (const auto& key : m_options.keys())  // forget the options of paths no longer listed
        if (!m_paths.contains(key)) m_options.remove(key);
    save();
    if (!sameOrder) emit changed();
}

QVariantMap RecentLocations::options(const QString& path) const {
    return m_options.value(QFileInfo(path).absoluteFilePath()).toMap();
}

void RecentLocations::clear() {
    if (m_paths.isEmpty()) return;
    m_paths.clear();
    m_options.clear();
    save();
    emit changed();
}

void RecentLocations::save() const {
    QSettings settings;
    settings.setValue(kKey, m_paths);
    settings.setValue(kOptionsKey, m_options);
}

}  // namespace lms::ui
