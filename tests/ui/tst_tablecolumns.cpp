// The column behaviour every table of the studio shares (ui/TableColumns.*).
#include "TableColumns.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QHeaderView>
#include <QSettings>
#include <QStandardItemModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTreeView>
#include <QtTest>

using lms::ui::makeColumnsUsable;

namespace {

const QString kLong =
    QStringLiteral("model.layers.31.attention.wq.mindpet_delta_lora_a_with_a_very_long_suffix");

void fill(QStandardItemModel& model, int rows) {
    model.setColumnCount(3);
    model.setHorizontalHeaderLabels(
        {QStringLiteral("Name"), QStringLiteral("Shape"), QStringLiteral("Status")});
    for (int r = 0; r < rows; ++r)
        model.appendRow({new QStandardItem(r == 0 ? kLong : QStringLiteral("w%1").arg(r)),
                         new QStandardItem(QStringLiteral("[4096, 4096]")),
                         new QStandardItem(QStringLiteral("ok"))});
}

QAction* action(QWidget* view, const char* name) {
    return view->findChild<QAction*>(QString::fromLatin1(name));
}

}  // namespace

class TestTableColumns : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void fitsAndKeepsEveryColumnVisible_data();
    void fitsAndKeepsEveryColumnVisible();
    void copiesRowsAndNames();
    void remembersWidths();
    void tooltipOnlyWhenElided();

private:
    QTemporaryDir m_settings;
};

void TestTableColumns::initTestCase() {
    QSettings::setDefaultFormat(QSettings::IniFormat);
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, m_settings.path());
    QCoreApplication::setOrganizationName(QStringLiteral("tst_tablecolumns"));
}

void TestTableColumns::fitsAndKeepsEveryColumnVisible_data() {
    QTest::addColumn<bool>("tree");
    QTest::addColumn<bool>("rowsFirst");   // model filled before the behaviour is applied
    QTest::addColumn<bool>("sizedLater");  // the view gets its size only when shown, as in a layout
    QTest::newRow("table, rows later") << false << false << false;
    QTest::newRow("table, rows first") << false << true << false;
    QTest::newRow("table, rows first, sized later") << false << true << true;
    QTest::newRow("tree, rows later") << true << false << false;
    QTest::newRow("tree, rows first, sized later") << true << true << true;
}

void TestTableColumns::fitsAndKeepsEveryColumnVisible() {
    QFETCH(bool, tree);
    QFETCH(bool, rowsFirst);
    QFETCH(bool, sizedLater);
    QSettings().clear();
    QStandardItemModel model;
    if (rowsFirst) fill(model, 3);
    std::unique_ptr<QAbstractItemView> view(tree ? static_cast<QAbstractItemView*>(new QTreeView)
                                                 : static_cast<QAbstractItemView*>(new QTableView));
    view->resize(sizedLater ? 90 : 600, 300);
    view->setModel(&model);
    QHeaderView* header = tree ? static_cast<QTreeView*>(view.get())->header()
                               : static_cast<QTableView*>(view.get())->horizontalHeader();
    makeColumnsUsable(view.get(), header, 0, QStringLiteral("fit"));
    if (sizedLater) view->resize(600, 300);
    view->show();
    QVERIFY(QTest::qWaitForWindowExposed(view.get()));
    if (!rowsFirst) fill(model, 3);
    for (int c = 0; c < 3; ++c) QCOMPARE(header->sectionResizeMode(c), QHeaderView::Interactive);
    QCOMPARE(view->textElideMode(), Qt::ElideMiddle);
    const int viewport = view->viewport()->width();
    QVERIFY2(header->sectionSize(0) <= viewport / 2, qPrintable(QString::number(header->sectionSize(0))));
    // The long name gets the capped width, not the width of a widget that was never laid out.
    QVERIFY2(header->sectionSize(0) >= viewport / 2 - 2, qPrintable(QString::number(header->sectionSize(0))));
    const int shapeWidth = view->fontMetrics().horizontalAdvance(QStringLiteral("[4096, 4096]"));
    QVERIFY(header->sectionSize(1) >= shapeWidth);
    // The status column starts inside the view: nothing pushed it out.
    QVERIFY(header->sectionViewportPosition(2) +
                view->fontMetrics().horizontalAdvance(QStringLiteral("ok")) <=
            viewport);
}

void TestTableColumns::copiesRowsAndNames() {
    QSettings().clear();
    QStandardItemModel model;
    fill(model, 4);
    QTableView view;
    view.setModel(&model);
    view.setSelectionBehavior(QAbstractItemView::SelectRows);
    view.setSelectionMode(QAbstractItemView::ExtendedSelection);
    makeColumnsUsable(&view, view.horizontalHeader(), 0, QStringLiteral("copy"));
    view.selectionModel()->select(model.index(2, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
    view.selectionModel()->select(model.index(1, 0), QItemSelectionModel::Select | QItemSelectionModel::Rows);
    QVERIFY(action(&view, "copyRowsAction"));
    QCOMPARE(action(&view, "copyRowsAction")->shortcut(), QKeySequence(QKeySequence::Copy));
    action(&view, "copyRowsAction")->trigger();
    QCOMPARE(QApplication::clipboard()->text(), QStringLiteral("w1\t[4096, 4096]\tok\nw2\t[4096, 4096]\tok"));
    action(&view, "copyNameAction")->trigger();
    QCOMPARE(QApplication::clipboard()->text(), QStringLiteral("w1\nw2"));
    QCOMPARE(view.contextMenuPolicy(), Qt::ActionsContextMenu);
}

void TestTableColumns::remembersWidths() {
    QSettings().clear();
    int width = 0;
    {
        QStandardItemModel model;
        fill(model, 2);
        QTableView view;
        view.setModel(&model);
        makeColumnsUsable(&view, view.horizontalHeader(), 0, QStringLiteral("remember"));
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        width = view.horizontalHeader()->sectionSize(1) + 37;
        view.horizontalHeader()->resizeSection(1, width);  // as a user's drag does
    }
    QStandardItemModel model;
    fill(model, 2);
    QTableView view;
    view.setModel(&model);
    makeColumnsUsable(&view, view.horizontalHeader(), 0, QStringLiteral("remember"));
    QCOMPARE(view.horizontalHeader()->sectionSize(1), width);
    QCOMPARE(view.horizontalHeader()->sectionResizeMode(1), QHeaderView::Interactive);
    QTableView other;  // another key keeps its own widths
    other.setModel(&model);
    makeColumnsUsable(&other, other.horizontalHeader(), 0, QStringLiteral("another"));
    other.show();
    QVERIFY(QTest::qWaitForWindowExposed(&other));
    QVERIFY(other.horizontalHeader()->sectionSize(1) != width);
}

void TestTableColumns::tooltipOnlyWhenElided() {
    QStandardItemModel model;
    fill(model, 2);
    QTableView view;
    view.setModel(&model);
    makeColumnsUsable(&view, view.horizontalHeader(), 0, QStringLiteral("tips"));
    auto* delegate = qobject_cast<lms::ui::ElidingDelegate*>(view.itemDelegate());
    QVERIFY(delegate);
    QStyleOptionViewItem option;
    option.initFrom(&view);
    option.rect = QRect(0, 0, 60, 20);
    QCOMPARE(delegate->elidedText(option, model.index(0, 0)), kLong);
    QCOMPARE(delegate->elidedText(option, model.index(0, 2)), QString());  // "ok" fits
    option.rect = QRect(0, 0, 4000, 20);
    QCOMPARE(delegate->elidedText(option, model.index(0, 0)), QString());
}

QTEST_MAIN(TestTableColumns)
#include "tst_tablecolumns.moc"
