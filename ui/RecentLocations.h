#pragma once
// The checkpoints and folders opened lately, newest first, kept in QSettings.

#include <QObject>
#include <QStringList>

namespace lms::ui {

class RecentLocations final : public QObject {
    Q_OBJECT
public:
    static constexpr int kMaximum = 10;
    explicit RecentLocations(QObject* parent = nullptr);
    QStringList paths() const { return m_paths; }
    // Moves `path` to the front (adding it if new) and saves.
    void add(const QString& path);
    void clear();

signals:
    void changed();

private:
    void save() const;
    QStringList m_paths;
};

}  // namespace lms::ui
