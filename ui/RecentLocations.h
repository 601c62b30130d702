#pragma once
// The checkpoints and folders opened lately, newest first, kept in QSettings, each with the options
// it was opened with (strategy, adapter, LoRA config, ...), so opening it again restores them.

#include <QObject>
#include <QStringList>
#include <QVariantMap>

namespace lms::ui {

class RecentLocations final : public QObject {
    Q_OBJECT
public:
    static constexpr int kMaximum = 10;
    explicit RecentLocations(QObject* parent = nullptr);
    QStringList paths() const { return m_paths; }
    // Moves `path` to the front (adding it if new), remembers its options (replacing older ones) and saves.
    void add(const QString& path, const QVariantMap& options = {});
    // The options `path` was last opened with (empty when none were stored).
    QVariantMap options(const QString& path) const;
    void clear();

signals:
    void changed();

private:
    void save() const;
    QStringList m_paths;
    QVariantMap m_options;  // path -> options
};

}  // namespace lms::ui
