#pragma once
// Export of what a table or tree shows, as CSV or JSON: every row the model gives (a tree's rows
// depth first, parents before their children), every column, the display text of each cell.
//  * CSV per RFC 4180: a header line of the column titles, CRLF line ends, a field quoted with "
//    when it holds a comma, a quote, CR or LF, and a quote inside a quoted field doubled.
//  * JSON: an array of objects, one per row, keyed by the column titles in column order, every
//    value a string, UTF-8, two-space indentation, a final newline.

#include <QByteArray>
#include <QString>

class QAbstractItemModel;
class QAbstractItemView;

namespace lms::ui {

QByteArray tableToCsv(const QAbstractItemModel& model);
QByteArray tableToJson(const QAbstractItemModel& model);

// Adds "Export as CSV…" and "Export as JSON…" to the context menu of `view` (which must use
// Qt::ActionsContextMenu, as makeColumnsUsable sets): they export view->model() as it is then
// (sorted and filtered as shown) into a file the user picks, proposed as `baseName`.csv / .json.
void addExportActions(QAbstractItemView* view, const QString& baseName);

// Writes `bytes` to `path` atomically (QSaveFile); the error for people, or "" on success.
QString writeExport(const QString& path, const QByteArray& bytes);

}  // namespace lms::ui
