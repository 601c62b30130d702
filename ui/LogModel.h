#pragma once
// The core's log records as a table (time, level, message), fed by LogSink through a queued
// signal, plus a proxy that hides records below a chosen level.

#include <QAbstractTableModel>
#include <QDateTime>
#include <QSortFilterProxyModel>
#include <deque>

namespace lms::ui {

// spdlog's levels, in its numbering (trace 0 … critical 5).
enum class LogLevel { Trace = 0, Debug, Info, Warning, Error, Critical };
QString logLevelText(LogLevel level);

struct LogRecord {
    QDateTime time;
    LogLevel level = LogLevel::Info;
    QString message;
};

class LogModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { TimeColumn, LevelColumn, MessageColumn, ColumnCount };
    enum Role { LevelRole = Qt::UserRole + 1 };

    explicit LogModel(QObject* parent = nullptr, int capacity = 5000);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    const LogRecord& record(int row) const { return m_records[size_t(row)]; }
    // Everything shown, one line per record, for the clipboard.
    QString text() const;

public slots:
    // Appends a record, dropping the oldest beyond the capacity.
    void append(const lms::ui::LogRecord& record);
    void clear();

signals:
    void warningOrWorse(const lms::ui::LogRecord& record);

private:
    std::deque<LogRecord> m_records;
    int m_capacity;
};

class LogFilterModel final : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit LogFilterModel(QObject* parent = nullptr);
    LogLevel minimumLevel() const { return m_minimum; }
    void setMinimumLevel(LogLevel level);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

private:
    LogLevel m_minimum = LogLevel::Info;
};

}  // namespace lms::ui

Q_DECLARE_METATYPE(lms::ui::LogRecord)
