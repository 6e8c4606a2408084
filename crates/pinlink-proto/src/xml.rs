//! A minimal XML element tree for plex.tv's attribute-heavy documents. The
//! escaping is quick-xml's; the tree only keeps attribute order as written.

use quick_xml::escape::escape;

#[derive(Debug, Clone)]
pub struct Element {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    children: Vec<Element>,
}

impl Element {
    pub fn new(name: &'static str) -> Element {
        Element {
            name,
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }
    pub fn attr(mut self, name: &'static str, value: impl ToString) -> Element {
        self.attrs.push((name, value.to_string()));
        self
    }
    /// `None` becomes `""`, as plex.tv writes nulls.
    pub fn opt_attr(self, name: &'static str, value: Option<impl ToString>) -> Element {
        let value = value.map(|v| v.to_string()).unwrap_or_default();
        self.attr(name, value)
    }
    pub fn bool_attr(self, name: &'static str, value: bool) -> Element {
        self.attr(name, if value { "1" } else { "0" })
    }
    pub fn child(mut self, child: Element) -> Element {
        self.children.push(child);
        self
    }
    pub fn children(mut self, children: impl IntoIterator<Item = Element>) -> Element {
        self.children.extend(children);
        self
    }

    /// The element as a document, with an XML declaration.
    pub fn to_document(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        self.write(&mut out);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(self.name);
        for (name, value) in &self.attrs {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            push_attribute_text(out, value);
            out.push('"');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for child in &self.children {
            child.write(out);
        }
        out.push_str("</");
        out.push_str(self.name);
        out.push('>');
    }
}

/// Writes `value` as the text of a double-quoted attribute. Besides the
/// five escapes, characters XML 1.0 does not allow at all (most control
/// characters, U+FFFE, U+FFFF) become U+FFFD, so no stored text can make a
/// document malformed; tab and line breaks are written as character
/// references so they survive attribute-value normalisation.
fn push_attribute_text(out: &mut String, value: &str) {
    let clean = value
        .chars()
        .all(|c| is_xml_char(c) && !matches!(c, '\t' | '\n' | '\r'));
    if clean {
        out.push_str(&escape(value));
        return;
    }
    for c in value.chars() {
        match c {
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if !is_xml_char(c) => out.push('\u{FFFD}'),
            c => {
                let mut buf = [0u8; 4];
                out.push_str(&escape(&*c.encode_utf8(&mut buf)));
            }
        }
    }
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_attribute_values() {
        let doc = Element::new("pin")
            .attr("product", "A \"<&>\" B")
            .to_document();
        assert!(
            doc.contains(r#"<pin product="A &quot;&lt;&amp;&gt;&quot; B"/>"#),
            "{doc}"
        );
    }

    #[test]
    fn never_writes_characters_xml_forbids() {
        let doc = Element::new("a")
            .attr("x", "bell\u{7} nonchar\u{FFFF} tab\t nl\n")
            .to_document();
        assert!(
            doc.contains("x=\"bell\u{FFFD} nonchar\u{FFFD} tab&#9; nl&#10;\""),
            "{doc}"
        );
    }

    #[test]
    fn nests_children() {
        let doc = Element::new("a")
            .bool_attr("x", true)
            .child(Element::new("b"))
            .to_document();
        assert!(doc.ends_with("<a x=\"1\"><b/></a>\n"), "{doc}");
    }
}
