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
            out.push_str(&escape(value.as_str()));
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
    fn nests_children() {
        let doc = Element::new("a")
            .bool_attr("x", true)
            .child(Element::new("b"))
            .to_document();
        assert!(doc.ends_with("<a x=\"1\"><b/></a>\n"), "{doc}");
    }
}
