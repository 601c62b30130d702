#include "TableExport.h"

#include <QAbstractItemModel>
#include <QAbstractItemView>
#include <QAction>
#include <QFileDialog>
#include <QMessageBox>
#include <QSaveFile>
#include <QStringList>
#include <functional>

namespace lms::ui {
namespace {

QStringList headers(const QAbstractItemModel& model) {
    QStringList out;
    for (int c = 0; c < model.columnCount(); ++c)
        out << model.headerData(c, Qt::Horizontal, Qt::DisplayRole).toString();
    return out;
}

// Every row, depth first, as its cells' display text.
void forEachRow(const QAbstractItemModel& model, const std::function<void(const QStringList&)>& visit,
                const QModelIndex& parent = {}) {
    const int columns = model.columnCount(parent.isValid() ? parent : QModelIndex());
    for (int r = 0; r < model.rowCount(parent); ++r) {
        QStringList cells;
        for (int c = 0; c < columns; ++c) cells << model.index(r, c, parent).data(Qt::DisplayRole).toString();
        visit(cells);
        const QModelIndex first = model.index(r, 0, parent);
        if (model.hasChildren(first)) forEachRow(model, visit, first);
    }
}

QString csvField(const QString& text) {
    if (!text.contains(QLatin1Char(',')) && !text.contains(QLatin1Char('"')) &&
        !text.contains(QLatin1Char('\n')) && !text.contains(QLatin1Char('\r')))
        return text;
    QString quoted = text;
    quoted.replace(QStringLiteral("\""), QStringLiteral("\"\""));
    return QLatin1Char('"') + quoted + QLatin1Char('"');
}

QString csvLine(const QStringList& cells) {
    QStringList fields;
    for (const auto& cell : cells) fields << csvField(cell);
    return fields.join(QLatin1Char(',')) + QStringLiteral("\r\n");
}

// A JSON string literal (RFC 8259): quote, backslash and control characters escaped, the rest UTF-8.
QString jsonString(const QString& text) {
    QString out = QStringLiteral("\"");
    for (const QChar ch : text) {
        switch (ch.unicode()) {
            case '"':
                out += QStringLiteral("\\\"");
                break;
            case '\\':
                out += QStringLiteral("\\\\");
                break;
            case '\n':
                out += QStringLiteral("\\n");
                break;
            case '\r':
                out += QStringLiteral("\\r");
                break;
            case '\t':
                out += QStringLiteral("\\t");
                break;
            default:
                if (ch.unicode() < 0x20)
                    out += QStringLiteral("\\u%1").arg(int(ch.unicode()), 4, 16, QLatin1Char('0'));
                else
                    out += ch;
        }
    }
    return out + QLatin1Char('"');
}

}  // namespace

QByteArray tableToCsv(const QAbstractItemModel& model) {
    QString out = csvLine(headers(model));
    forEachRow(model, [&](const QStringList& cells) { out += csvLine(cells); });
    return out.toUtf8();
}

QByteArray tableToJson(const QAbstractItemModel& model) {
    const QStringList keys = headers(model);
    QStringList rows;
    forEachRow(model, [&](const QStringList& cells) {
        QStringList members;
        for (int c = 0; c < keys.size() && c < cells.size(); ++c)
            members << QStringLiteral("    ") + jsonString(keys[c]) + QStringLiteral(": ") +
                           jsonString(cells[c]);
        rows << QStringLiteral("  {\n") + members.join(QStringLiteral(",\n")) + QStringLiteral("\n  }");
    });
    if (rows.isEmpty()) return QByteArrayLiteral("[]\n");
    return (QStringLiteral("[\n") + rows.join(QStringLiteral(",\n")) + QStringLiteral("\n]\n")).toUtf8();
}

QString writeExport(const QString& path, const QByteArray& bytes) {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit())
        return QObject::tr("Could not write %1: %2").arg(path, file.errorString());
    return {};
}

void addExportActions(QAbstractItemView* view, const QString& baseName) {
    auto* separator = new QAction(view);
    separator->setSeparator(true);
    view->addAction(separator);
    auto add = [view, baseName](const QString& text, const QString& suffix, const QString& filter,
                                QByteArray (*serialise)(const QAbstractItemModel&)) {
        auto* action = new QAction(text, view);
        action->setObjectName(QStringLiteral("export") + suffix.toUpper() + QStringLiteral("Action"));
        QObject::connect(action, &QAction::triggered, view, [view, baseName, suffix, filter, serialise] {
            if (!view->model()) return;
            const QString path = QFileDialog::getSaveFileName(view, QObject::tr("Export table"),
                                                              baseName + QLatin1Char('.') + suffix, filter);
            if (path.isEmpty()) return;
            const QString error = writeExport(path, serialise(*view->model()));
            if (!error.isEmpty()) QMessageBox::warning(view, QObject::tr("Export failed"), error);
        });
        view->addAction(action);
    };
    add(QObject::tr("Export as CSV…"), QStringLiteral("csv"), QObject::tr("CSV (*.csv)"), &tableToCsv);
    add(QObject::tr("Export as JSON…"), QStringLiteral("json"), QObject::tr("JSON (*.json)"), &tableToJson);
}

}  // namespace lms::ui
