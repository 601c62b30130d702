#include "LogModel.h"

#include <QApplication>
#include <QPalette>
#include <QStyle>

namespace lms::ui {

QString logLevelText(LogLevel level) {
    switch (level) {
        case LogLevel::Trace:
            return LogModel::tr("Trace");
        case LogLevel::Debug:
            return LogModel::tr("Debug");
        case LogLevel::Info:
            return LogModel::tr("Info");
        case LogLevel::Warning:
            return LogModel::tr("Warning");
        case LogLevel::Error:
            return LogModel::tr("Error");
        case LogLevel::Critical:
            return LogModel::tr("Critical");
    }
    return {};
}

LogModel::LogModel(QObject* parent, int capacity)
    : QAbstractTableModel(parent), m_capacity(std::max(1, capacity)) {
    qRegisterMetaType<lms::ui::LogRecord>();
}

int LogModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(m_records.size());
}

int LogModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant LogModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const auto& r = m_records[size_t(index.row())];
    if (role == LevelRole) return int(r.level);
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
            case TimeColumn:
                return r.time.toString(QStringLiteral("HH:mm:ss.zzz"));
            case LevelColumn:
                return logLevelText(r.level);
            case MessageColumn:
                return r.message;
        }
    }
    if (role == Qt::ToolTipRole && index.column() == MessageColumn) return r.message;
    if (role == Qt::DecorationRole && index.column() == LevelColumn) {
        auto* style = QApplication::style();
        if (!style) return {};
        if (r.level >= LogLevel::Error) return style->standardIcon(QStyle::SP_MessageBoxCritical);
        if (r.level == LogLevel::Warning) return style->standardIcon(QStyle::SP_MessageBoxWarning);
        return {};
    }
    return {};
}

QVariant LogModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
        case TimeColumn:
            return tr("Time");
        case LevelColumn:
            return tr("Level");
        case MessageColumn:
            return tr("Message");
    }
    return {};
}

QString LogModel::text() const {
    QString out;
    for (const auto& r : m_records)
        out += r.time.toString(Qt::ISODateWithMs) + QLatin1Char(' ') + logLevelText(r.level) +
               QLatin1Char(' ') + r.message + QLatin1Char('\n');
    return out;
}

void LogModel::append(const LogRecord& record) {
    if (int(m_records.size()) >= m_capacity) {
        const int excess = int(m_records.size()) - m_capacity + 1;
        beginRemoveRows({}, 0, excess - 1);
        m_records.erase(m_records.begin(), m_records.begin() + excess);
        endRemoveRows();
    }
    const int row = int(m_records.size());
    beginInsertRows({}, row, row);
    m_records.push_back(record);
    endInsertRows();
    if (record.level >= LogLevel::Warning) emit warningOrWorse(record);
}

void LogModel::clear() {
    if (m_records.empty()) return;
    beginResetModel();
    m_records.clear();
    endResetModel();
}

LogFilterModel::LogFilterModel(QObject* parent) : QSortFilterProxyModel(parent) {}

void LogFilterModel::setMinimumLevel(LogLevel level) {
    if (level == m_minimum) return;
    m_minimum = level;
    invalidateFilter();
}

bool LogFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    const auto index = sourceModel()->index(sourceRow, 0, sourceParent);
    return sourceModel()->data(index, LogModel::LevelRole).toInt() >= int(m_minimum);
}

}  // namespace lms::ui
